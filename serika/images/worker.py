"""In-process job workers: claim, draw, store, finish; leases and recovery.

Each server process runs ``image_job_workers`` worker tasks (the bound on concurrent jobs
per process) and one keeper task. A worker claims the oldest queued job, renders it through
the image gateway, stores the files and records the outcome. The keeper renews the leases
of the jobs this process is working on and re-queues jobs abandoned by dead processes.

Recovery after a crash: on start, jobs ``PROCESSING`` under a process of this host that no
longer exists are re-queued at once; jobs of any other process are re-queued once their
lease runs out (``image_job_lease_seconds``). A job tried ``image_job_max_attempts`` times
is failed with the reason instead. A clean shutdown lets running jobs finish for a few
seconds, then puts the rest back in the queue without counting the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta

from serika.clock import Clock
from serika.errors import SerikaError
from serika.images.gateway import ImageGateway
from serika.images.store import Job, JobStatus, JobStore, Outcome

log = logging.getLogger(__name__)
INTERRUPTED = "job_interrupted"


def new_owner() -> str:
    """``host|pid|random``: who holds a job, and enough to tell a dead local process."""
    return f"{socket.gethostname()[:64]}|{os.getpid()}|{secrets.token_hex(6)}"


def is_dead_local_owner(owner: str, me: str) -> bool:
    """True when ``owner`` names a process of this host that is gone (never for other hosts)."""
    host, _, rest = owner.partition("|")
    pid_text = rest.partition("|")[0]
    my_host = me.partition("|")[0]
    if host != my_host or not pid_text.isdigit() or owner == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier life of this very pid (a restarted container, say)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobWorkers:
    def __init__(
        self,
        store: JobStore,
        gateway: ImageGateway,
        clock: Clock,
        *,
        workers: int,
        poll_seconds: float,
        lease_seconds: float,
        max_attempts: int,
        grace_seconds: float = 5.0,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._clock = clock
        self._workers = workers
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._grace = grace_seconds
        self.owner = owner or new_owner()
        self._wake = asyncio.Event()
        # When a worker here last asked the store for a job (the loop's clock): idle workers
        # take turns, so a process asks once a poll interval, not once per worker.
        self._looked_at = float("-inf")
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._keeper: asyncio.Task[None] | None = None
        self._running: set[str] = set()
        self._started = False

    def wake(self) -> None:
        """A job was queued by this process: look now rather than at the next poll."""
        self._looked_at = float("-inf")
        self._wake.set()

    def busy(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        if self._workers == 0:
            return
        self._started = True
        try:
            await self.recover()
        except Exception:
            log.warning("could not recover abandoned image jobs; will retry", exc_info=True)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"serika-image-worker-{n}")
            for n in range(self._workers)
        ]
        self._keeper = asyncio.create_task(self._keep(), name="serika-image-keeper")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._keeper is not None:
            self._keeper.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._grace)
        for task in [*self._tasks, *([self._keeper] if self._keeper else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._started:
            try:
                for job in await self._store.held_by(self.owner):
                    await self._store.requeue(job, refund_attempt=True)
            except Exception:
                log.warning("could not put unfinished image jobs back in the queue", exc_info=True)

    async def recover(self) -> int:
        """Re-queue (or fail, past the attempt limit) jobs whose process is gone."""
        owners = await self._store.processing_owners()
        dead = [o for o in owners if is_dead_local_owner(o, self.owner)]
        count = 0
        for job in await self._store.abandoned(self._clock.now(), dead):
            if job.attempts >= self._max_attempts:
                done = await self._finish(
                    job,
                    job.claimed_by or "",
                    Outcome(
                        JobStatus.FAILED,
                        self._clock.now(),
                        usage_status=500,
                        error=(
                            f"The job was interrupted {job.attempts} times (the server drawing "
                            "it stopped); giving up."
                        ),
                        error_code=INTERRUPTED,
                    ),
                )
            else:
                done = await self._store.requeue(job)
            count += int(done)
        if count:
            log.info("recovered %d abandoned image job(s)", count)
            self.wake()
        return count

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            job = None
            if loop.time() >= self._looked_at + self._poll:  # no worker here looked lately
                self._looked_at = loop.time()
                try:
                    now = self._clock.now()
                    job = await self._store.claim(self.owner, now, now + self._lease)
                except Exception:
                    log.warning("could not claim an image job; will retry", exc_info=True)
            if job is None:  # until a job is queued here or the next look is due
                due = self._looked_at + self._poll - loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(due, 0.001))
                if not self._stopping:
                    self._wake.clear()
                continue
            self.wake()  # the queue may hold more: a free worker looks at once
            self._running.add(job.id)
            try:
                await self._run(job)
            finally:
                self._running.discard(job.id)

    async def _run(self, job: Job) -> None:
        stored = []
        try:
            model = self._gateway.resolve(job.model, job=True)
            images = await self._gateway.render(model, job.request)
            stored = await self._gateway.store(images)
            outcome = Outcome(
                JobStatus.COMPLETED,
                self._clock.now(),
                usage_status=200,
                images=tuple(stored),
                cost_micro_usd=model.cost_micro_usd(0, 0, len(stored)),
            )
        except SerikaError as error:
            outcome = self._failure(error.message, error.code, error.status)
        except Exception:
            log.exception("image job %s failed unexpectedly", job.id)
            outcome = self._failure("The server had an error while drawing the image.", None, 500)
        try:
            finished = await self._finish(job, self.owner, outcome)
        except Exception:
            log.warning("could not record the end of image job %s", job.id, exc_info=True)
            finished = False
        if not finished and stored:
            await self._gateway.discard(stored)  # someone else took the job over

    async def _finish(self, job: Job, owner: str, outcome: Outcome) -> bool:
        """Record how the job ended (unless someone else holds it now) and settle what it
        reserved against the spending limit to what it cost."""
        finished = await self._store.finish(job, owner, outcome)
        if finished:
            self._gateway.settle_job(job, outcome.cost_micro_usd)
        return finished

    def _failure(self, message: str, code: str | None, status: int) -> Outcome:
        return Outcome(
            JobStatus.FAILED,
            self._clock.now(),
            usage_status=status,
            error=message,
            error_code=code,
        )

    async def _keep(self) -> None:
        interval = max(0.2, self._lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                now = self._clock.now()
                await self._store.renew(self.owner, set(self._running), now + self._lease)
                await self.recover()
            except Exception:
                log.warning("could not renew image job leases; will retry", exc_info=True)
