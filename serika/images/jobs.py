"""Asynchronous image jobs as the API sees them: submit, read one, list the account's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from serika.clock import Clock
from serika.errors import InvalidRequest, NotFound
from serika.ids import random_base62
from serika.images.gateway import ImageGateway
from serika.images.store import Job, JobStatus, JobStore
from serika.usage.model import UsageTicket

_JOB_ID = re.compile(r"job-[0-9A-Za-z]{24}")
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 200


def new_job_id() -> str:
    return "job-" + random_base62(24)


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"No job with id {job_id[:64]!r}", param="id", code="job_not_found")


class ImageJobs:
    def __init__(
        self,
        gateway: ImageGateway,
        store: JobStore,
        clock: Clock,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._clock = clock
        self._wake = wake

    async def submit(self, body: dict[str, Any], ticket: UsageTicket) -> Job:
        """Validate now (400s come back at once), admit against the limits (the images' price
        reserved against the spending cap until the job ends), queue, and wake a worker."""
        model, request = self._gateway.prepare(body, ticket, job=True)
        admission = await self._gateway.reserve(ticket, model, request)
        job = Job(
            id=new_job_id(),
            user_id=ticket.user_id,
            key_id=ticket.key_id,
            endpoint=ticket.endpoint,
            model=ticket.model or model.id,
            request=request,
            status=JobStatus.QUEUED,
            created_at=self._clock.now(),
            reserved_micro_usd=admission.reserved_cost,
        )
        await self._store.insert(job)
        # The job's usage record is written when it ends, with its images and cost.
        ticket.deferred = True
        self._wake()
        return job

    async def get(self, user_id: str, job_id: str) -> Job:
        """The caller's job; someone else's answers exactly like a missing one."""
        if not _JOB_ID.fullmatch(job_id):
            raise _not_found(job_id)
        job = await self._store.get(user_id, job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    async def recent(self, user_id: str, limit: str | None, offset: str | None) -> list[Job]:
        return await self._store.recent(
            user_id,
            _query_int(limit, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT),
            _query_int(offset, "offset", 0, 0, 10**9),
        )


def _query_int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}", param=name)
    return number
