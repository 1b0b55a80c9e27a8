"""Operations endpoints: liveness for load balancers, metrics for Prometheus."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.web.routing import public_route, services

_OK = b'{"status":"ok"}'


async def healthz(_request: Request) -> Response:
    return Response(_OK, media_type="application/json")


async def metrics(request: Request) -> Response:
    """Prometheus text format: a few gauges about this process."""
    found = services(request)
    lines = [
        "# HELP serika_key_cache_entries Verified API keys cached in this process.",
        "# TYPE serika_key_cache_entries gauge",
        f"serika_key_cache_entries {found.verifier.cached_entries()}",
        "# HELP serika_key_activity_pending Keys with use not yet written to the database.",
        "# TYPE serika_key_activity_pending gauge",
        f"serika_key_activity_pending {found.activity.pending()}",
        "# HELP serika_key_revocation_generation Key changes seen by this process.",
        "# TYPE serika_key_revocation_generation counter",
        f"serika_key_revocation_generation {found.revocations.generation()}",
        "# HELP serika_image_jobs_running Image jobs this process is drawing now.",
        "# TYPE serika_image_jobs_running gauge",
        f"serika_image_jobs_running {found.job_workers.busy()}",
        "",
    ]
    return Response("\n".join(lines), media_type="text/plain; version=0.0.4")


def routes() -> list[Route]:
    return [public_route("/healthz", healthz), public_route("/metrics", metrics)]
