"""Image jobs in the database: insert, read, and the claim/lease protocol of the workers.

A worker claims the oldest ``QUEUED`` job in one statement that also marks it
``PROCESSING``, names the claimant and sets a lease: ``UPDATE … WHERE id = (SELECT … LIMIT 1
FOR UPDATE SKIP LOCKED) AND status = 'QUEUED' RETURNING …``. On PostgreSQL the row lock
and ``SKIP LOCKED`` let any number of workers in any number of processes claim in parallel,
each job exactly once; SQLite runs one writer at a time, so the same statement is atomic
there too. The claimant renews its lease while it works; a job whose lease ran out (its
process died) is queued again, or failed once it has been tried ``max_attempts`` times.
Every final write is conditional on the claimant still holding the job, and a completed
job's usage record and key image count are written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import orjson
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from serika.db.tables import api_keys, image_jobs, usage_records
from serika.images.files import StoredImage
from serika.images.request import ImageRequest


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    user_id: str
    key_id: str | None
    endpoint: str
    model: str
    request: ImageRequest
    status: JobStatus
    created_at: datetime
    attempts: int = 0
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    images: tuple[StoredImage, ...] = field(default_factory=tuple)
    error: str | None = None
    error_code: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reserved_micro_usd: int = 0  # reserved against the spending cap when submitted


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a job ended, and the usage record that bills it (written with the outcome)."""

    status: JobStatus
    finished_at: datetime
    usage_status: int
    images: tuple[StoredImage, ...] = ()
    cost_micro_usd: int = 0
    error: str | None = None
    error_code: str | None = None


def _job(row: RowMapping) -> Job:
    result = orjson.loads(row["result"]) if row["result"] else []
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        key_id=row["key_id"],
        endpoint=row["endpoint"],
        model=row["model"],
        request=ImageRequest.from_stored(orjson.loads(row["request"])),
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"],
        lease_expires_at=row["lease_expires_at"],
        images=tuple(StoredImage.from_stored(item) for item in result),
        error=row["error"],
        error_code=row["error_code"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        reserved_micro_usd=row["reserved_micro_usd"],
    )


class JobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # What idle workers ask twice a second or so, made once (as a statement, and so
        # compiled once): whether anything is queued.
        c = image_jobs.c
        self._any_queued = select(c.id).where(c.status == JobStatus.QUEUED.value).limit(1)

    async def insert(self, job: Job) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(image_jobs).values(
                    id=job.id,
                    user_id=job.user_id,
                    key_id=job.key_id,
                    endpoint=job.endpoint,
                    model=job.model,
                    request=orjson.dumps(job.request.stored()).decode(),
                    status=job.status.value,
                    attempts=0,
                    created_at=job.created_at,
                    reserved_micro_usd=job.reserved_micro_usd,
                )
            )

    async def get(self, user_id: str, job_id: str) -> Job | None:
        query = select(image_jobs).where(image_jobs.c.id == job_id, image_jobs.c.user_id == user_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _job(row) if row is not None else None

    async def recent(self, user_id: str, limit: int, offset: int = 0) -> list[Job]:
        c = image_jobs.c
        query = (
            select(image_jobs)
            .where(c.user_id == user_id)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_job(row) for row in rows]

    async def claim(self, owner: str, now: datetime, lease_until: datetime) -> Job | None:
        """The oldest queued job, now ``PROCESSING`` under ``owner``; None when none is queued."""
        # A plain read first: idle workers polling an empty queue take no write lock (on
        # SQLite a write would hold up every other writer, the API's inserts included), and
        # build no claim.
        async with self._engine.connect() as conn:
            if (await conn.execute(self._any_queued)).first() is None:
                return None
        c = image_jobs.c
        oldest = (
            select(c.id)
            .where(c.status == JobStatus.QUEUED.value)
            .order_by(c.created_at, c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(image_jobs)
            .where(c.id == oldest, c.status == JobStatus.QUEUED.value)
            .values(
                status=JobStatus.PROCESSING.value,
                claimed_by=owner,
                lease_expires_at=lease_until,
                attempts=c.attempts + 1,
                started_at=now,
            )
            .returning(*image_jobs.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(claim)).mappings().first()
        return _job(row) if row is not None else None

    async def renew(self, owner: str, job_ids: Iterable[str], lease_until: datetime) -> int:
        ids = list(job_ids)
        if not ids:
            return 0
        c = image_jobs.c
        query = (
            update(image_jobs)
            .where(c.id.in_(ids), c.claimed_by == owner, c.status == JobStatus.PROCESSING.value)
            .values(lease_expires_at=lease_until)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount

    async def finish(self, job: Job, owner: str, outcome: Outcome) -> bool:
        """Record the outcome if ``owner`` still holds the job; bill it in the same transaction."""
        c = image_jobs.c
        result = (
            orjson.dumps([image.stored() for image in outcome.images]).decode()
            if outcome.images
            else None
        )
        query = (
            update(image_jobs)
            .where(c.id == job.id, c.claimed_by == owner, c.status == JobStatus.PROCESSING.value)
            .values(
                status=outcome.status.value,
                result=result,
                error=outcome.error,
                error_code=outcome.error_code,
                finished_at=outcome.finished_at,
                lease_expires_at=None,
            )
        )
        async with self._engine.begin() as conn:
            if (await conn.execute(query)).rowcount != 1:
                return False
            await self._bill(conn, job, outcome)
        return True

    async def _bill(self, conn: AsyncConnection, job: Job, outcome: Outcome) -> None:
        latency = (outcome.finished_at - job.created_at).total_seconds()
        await conn.execute(
            insert(usage_records).values(
                user_id=job.user_id,
                key_id=job.key_id,
                endpoint=job.endpoint,
                model=job.model,
                status=outcome.usage_status,
                prompt_tokens=0,
                completion_tokens=0,
                images=len(outcome.images),
                cost_micro_usd=outcome.cost_micro_usd,
                latency_ms=max(0, int(latency * 1000)),
                estimated=False,
                created_at=outcome.finished_at,
            )
        )
        if job.key_id is not None and outcome.images:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == job.key_id)
                .values(total_images=api_keys.c.total_images + len(outcome.images))
            )

    async def abandoned(self, now: datetime, dead_owners: Sequence[str] = ()) -> list[Job]:
        """``PROCESSING`` jobs whose lease ran out, or whose claimant is known to be dead."""
        c = image_jobs.c
        stale = and_(c.lease_expires_at.is_not(None), c.lease_expires_at < now)
        condition = c.claimed_by.in_(list(dead_owners)) | stale if dead_owners else stale
        query = select(image_jobs).where(c.status == JobStatus.PROCESSING.value, condition)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_job(row) for row in rows]

    async def processing_owners(self) -> set[str]:
        c = image_jobs.c
        query = select(c.claimed_by).where(c.status == JobStatus.PROCESSING.value).distinct()
        async with self._engine.connect() as conn:
            return {row[0] for row in (await conn.execute(query)).all() if row[0]}

    async def requeue(self, job: Job, *, refund_attempt: bool = False) -> bool:
        """Put a job its claimant no longer works on back in the queue (if still so held)."""
        c = image_jobs.c
        query = (
            update(image_jobs)
            .where(
                c.id == job.id,
                c.claimed_by == job.claimed_by,
                c.status == JobStatus.PROCESSING.value,
            )
            .values(
                status=JobStatus.QUEUED.value,
                claimed_by=None,
                lease_expires_at=None,
                attempts=c.attempts - 1 if refund_attempt else c.attempts,
            )
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(query)).rowcount == 1

    async def held_by(self, owner: str) -> list[Job]:
        c = image_jobs.c
        query = select(image_jobs).where(
            c.claimed_by == owner, c.status == JobStatus.PROCESSING.value
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_job(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Jobs by status (for /metrics and tests)."""
        c = image_jobs.c
        query = select(c.status, func.count()).group_by(c.status)
        async with self._engine.connect() as conn:
            return {str(s): int(n) for s, n in (await conn.execute(query)).all()}
