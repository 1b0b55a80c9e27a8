"""The image CDN: ``GET /api/cdn/images/{image_id}.{ext}``, public, by unguessable id.

``serve_blob`` is the one way a stored file goes out: the stored content type, a year of
immutable caching (ids are never reused), an ETag, and headers that keep a browser from
treating the file as anything but an image.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.errors import NotFound
from serika.images.files import blob_key, parse_file_name
from serika.web.routing import public_route, services

CACHE_FOREVER = "public, max-age=31536000, immutable"


async def serve_blob(request: Request, key: str, etag: str) -> Response:
    """The stored file at ``key`` (404 when missing), honouring ``If-None-Match``."""
    quoted = f'"{etag}"'
    headers = {
        "Cache-Control": CACHE_FOREVER,
        "ETag": quoted,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    blob = await services(request).blobs.get(key)
    if blob is None:
        raise NotFound("No such file")
    if quoted in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = b"" if request.method == "HEAD" else blob.data
    response = Response(body, media_type=blob.content_type, headers=headers)
    if request.method == "HEAD":
        response.headers["Content-Length"] = str(len(blob.data))
    return response


async def image_file(request: Request) -> Response:
    file_name = str(request.path_params["file_name"])
    parsed = parse_file_name(file_name)
    if parsed is None:
        raise NotFound("No such image")
    return await serve_blob(request, blob_key(file_name), parsed[0])


def routes() -> list[Route]:
    """Mounted at ``/api/cdn``."""
    return [public_route("/images/{file_name}", image_file, methods=["GET", "HEAD"])]
