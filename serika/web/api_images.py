"""Images behind ``image_generation``: generation (sync), the legacy form, and jobs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.images.files import StoredImage
from serika.images.store import Job, JobStatus
from serika.keys.permissions import Permission
from serika.web.bodies import json_object
from serika.web.disconnect import unless_disconnected
from serika.web.responses import JSON, iso
from serika.web.routing import ApiCall, key_route, services
from serika.web.urls import public_origin


def _result(images: tuple[StoredImage, ...], origin: str) -> dict[str, Any] | None:
    if not images:
        return None
    every = [image.public(origin) for image in images]
    return {**every[0], "images": every}


def job_json(job: Job, origin: str) -> dict[str, Any]:
    return {
        "id": job.id,
        "object": "image.job",
        "status": job.status.value,
        "model": job.model,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "result": _result(job.images, origin) if job.status is JobStatus.COMPLETED else None,
        "error": job.error if job.status is JobStatus.FAILED else None,
        "error_code": job.error_code if job.status is JobStatus.FAILED else None,
    }


async def generate(request: Request, call: ApiCall) -> Response:
    body = await json_object(request)
    work = services(request).images.generate(body, call.ticket, public_origin(request))
    return JSON(await unless_disconnected(request, work))


async def generate_legacy(request: Request, call: ApiCall) -> Response:
    """``POST /generate/image``: the same call; without ``model`` the first free image model."""
    body = await json_object(request)
    gateway = services(request).images
    if not body.get("model"):
        body["model"] = gateway.default_model()
    work = gateway.generate(body, call.ticket, public_origin(request))
    return JSON(await unless_disconnected(request, work))


async def submit_job(request: Request, call: ApiCall) -> Response:
    body = await json_object(request)
    job = await services(request).jobs.submit(body, call.ticket)
    return JSON(job_json(job, public_origin(request)), status_code=202)


async def get_job(request: Request, call: ApiCall) -> Response:
    job_id = str(request.path_params["job_id"])
    job = await services(request).jobs.get(call.credential.user_id, job_id)
    return JSON(job_json(job, public_origin(request)))


async def list_jobs(request: Request, call: ApiCall) -> Response:
    query = request.query_params
    jobs = await services(request).jobs.recent(
        call.credential.user_id, query.get("limit"), query.get("offset")
    )
    origin = public_origin(request)
    return JSON({"object": "list", "jobs": [job_json(job, origin) for job in jobs]})


def routes() -> list[Route]:
    images = Permission.IMAGE_GENERATION
    return [
        key_route(
            "/images/generations", generate, permission=images, methods=["POST"], reserves=True
        ),
        key_route(
            "/generate/image", generate_legacy, permission=images, methods=["POST"], reserves=True
        ),
        key_route("/jobs/images", submit_job, permission=images, methods=["POST"], reserves=True),
        key_route("/jobs/image", submit_job, permission=images, methods=["POST"], reserves=True),
        key_route("/jobs", list_jobs, permission=images),
        key_route("/jobs/{job_id}", get_job, permission=images),
    ]
