"""Everything a request needs, built once per app in its lifespan (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from serika.accounts.passwords import Passwords
from serika.accounts.service import AccountService
from serika.accounts.store import AccountStore
from serika.accounts.throttle import LoginThrottle, ThrottlePolicy
from serika.catalog.catalog import Catalog, demo_enabled
from serika.characters.service import CharacterService
from serika.characters.store import CharacterStore
from serika.clock import Clock, SystemClock
from serika.config import Settings
from serika.db.engine import create_engine
from serika.gateway.text import TextGateway
from serika.images.gateway import ImageGateway
from serika.images.jobs import ImageJobs
from serika.images.store import JobStore
from serika.images.worker import JobWorkers
from serika.keys.activity import ActivityRecorder
from serika.keys.cache import CredentialCache
from serika.keys.hashing import SecretHasher
from serika.keys.revocation import RedisRevocations, Revocations, SharedFileRevocations
from serika.keys.service import KeyService
from serika.keys.store import KeyStore
from serika.keys.verify import KeyVerifier
from serika.limits.counters import Counters, InProcessCounters
from serika.limits.limiter import Limiter
from serika.limits.plans import plans_from
from serika.limits.redis_counters import RedisCounters
from serika.providers.registry import Providers, build_providers
from serika.server_secret import load_server_secret
from serika.storage.blobs import BlobStore
from serika.storage.factory import build_blob_store
from serika.usage.meter import Meter
from serika.usage.report import UsageReports
from serika.usage.store import UsageStore


@dataclass
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    catalog: Catalog
    accounts: AccountService
    keys: KeyService
    verifier: KeyVerifier
    activity: ActivityRecorder
    revocations: Revocations
    meter: Meter
    usage: UsageStore
    providers: Providers
    text: TextGateway
    reports: UsageReports
    characters: CharacterService
    limiter: Limiter
    blobs: BlobStore
    images: ImageGateway
    jobs: ImageJobs
    job_workers: JobWorkers

    async def start(self) -> None:
        await self.revocations.start()
        await self.meter.start()
        await self.blobs.start()
        await self.job_workers.start()

    async def close(self) -> None:
        try:
            await self.job_workers.stop()
            await self.meter.stop()
            await self.limiter.close()
        finally:
            await self.providers.close()
            await self.revocations.stop()
            await self.blobs.close()
            await self.engine.dispose()


def build_revocations(settings: Settings) -> Revocations:
    local = SharedFileRevocations(settings.data_dir / "run" / "key-revocations")
    if settings.redis_url:
        return RedisRevocations(local, settings.redis_url)
    return local


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    engine = create_engine(settings.resolved_database_url)
    hasher = SecretHasher(load_server_secret(settings))
    revocations = build_revocations(settings)
    key_store = KeyStore(engine)
    throttle = LoginThrottle(
        ThrottlePolicy(
            max_per_account=settings.login_max_failures_per_account,
            max_per_address=settings.login_max_failures_per_ip,
            window_seconds=settings.login_failure_window_seconds,
        ),
        clock,
    )
    accounts = AccountService(
        AccountStore(engine),
        Passwords(
            settings.password_time_cost,
            settings.password_memory_kib,
            settings.password_parallelism,
        ),
        hasher,
        throttle,
        clock,
        settings.session_ttl_seconds,
        revocations,
    )
    catalog = Catalog.from_settings(settings)
    activity = ActivityRecorder(key_store, clock)
    usage = UsageStore(engine)
    counters: Counters = (
        RedisCounters(settings.redis_url) if settings.redis_url else InProcessCounters()
    )
    limiter = Limiter(
        counters,
        plans_from(settings),
        usage,
        clock,
        settings.rate_window_seconds,
    )
    meter = Meter(usage, activity, clock, settings.activity_flush_seconds, limiter)
    providers = build_providers(settings, demo=demo_enabled(settings))
    characters = CharacterService(CharacterStore(engine), clock)
    blobs = build_blob_store(settings)
    images = ImageGateway(
        catalog, providers, blobs, clock, settings.image_max_prompt_chars, limiter
    )
    job_store = JobStore(engine)
    job_workers = JobWorkers(
        job_store,
        images,
        clock,
        workers=settings.image_job_workers,
        poll_seconds=settings.image_job_poll_seconds,
        lease_seconds=settings.image_job_lease_seconds,
        max_attempts=settings.image_job_max_attempts,
    )
    return Services(
        settings=settings,
        clock=clock,
        engine=engine,
        catalog=catalog,
        accounts=accounts,
        keys=KeyService(key_store, hasher, clock, revocations, settings.max_keys_per_account),
        verifier=KeyVerifier(
            hasher, key_store, CredentialCache(settings.key_cache_size), revocations
        ),
        activity=activity,
        revocations=revocations,
        meter=meter,
        usage=usage,
        providers=providers,
        text=TextGateway(catalog, providers, meter, characters, limiter),
        reports=UsageReports(usage, key_store, meter, clock, plans_from(settings)),
        characters=characters,
        limiter=limiter,
        blobs=blobs,
        images=images,
        jobs=ImageJobs(images, job_store, clock, job_workers.wake),
        job_workers=job_workers,
    )
