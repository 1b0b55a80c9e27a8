"""The address callers reach this server at, for absolute URLs in answers (image CDN)."""

from __future__ import annotations

from starlette.requests import Request

from serika.web.routing import services


def public_origin(request: Request) -> str:
    """``SERIKA_PUBLIC_URL`` when set, else the scheme and host the request came to."""
    configured = services(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"
