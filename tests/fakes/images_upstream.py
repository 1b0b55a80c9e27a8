"""A fake image provider process: OpenAI's images API, NovelAI's and TensorArt's.

Run it with ``python -m tests.fakes.images_upstream --host 127.0.0.1 --port P``; tests use
``tests.support.upstream.FakeUpstream(module="tests.fakes.images_upstream")``.

Endpoints
---------
* ``POST /v1/images/generations`` (OpenAI): ``n`` PNGs of ``size`` as ``b64_json`` (or, with
  ``#url`` in the prompt, as URLs on this server);
* ``POST /ai/generate-image`` (NovelAI): a zip (``image_0.png`` …) of ``n_samples`` PNGs of
  ``parameters.width`` x ``parameters.height``; errors as NovelAI sends them,
  ``{"statusCode": N, "message": "..."}``;
* ``POST /v1/jobs`` and ``GET /v1/jobs/{id}`` (TensorArt): a job that is ``RUNNING`` on the
  first poll and ``SUCCESS`` (images by URL) on the next;
* ``GET /files/{name}``: the PNGs handed out by URL;
* ``GET /_fake/requests`` (every request, JSON) and ``POST /_fake/reset``.

Directives in the prompt: ``#status=CODE`` (answer that error), ``#delay=S`` (sleep first),
``#garbage`` (200 with a body that is neither JSON nor a zip), ``#drop`` (abort the
connection), ``#notimage`` (well-formed answer whose "image" is not one), ``#url`` (OpenAI:
answer URLs). Every PNG is a flat colour derived from the prompt, so tests can tell them
apart, and has the requested size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import itertools
import json
import re
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final

from aiohttp import web
from PIL import Image

RECORDS: Final = web.AppKey("records", list[dict[str, Any]])
COUNTER: Final = web.AppKey("counter", Iterator[int])
FILES: Final = web.AppKey("files", dict[str, bytes])
JOBS: Final = web.AppKey("jobs", dict[str, dict[str, Any]])
_DIRECTIVE = re.compile(r"#([a-z]+)(?:=(\S+))?")
SECRET_DETAIL = "upstream-secret-detail https://images-upstream.internal/x"

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def directives(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or "" for m in _DIRECTIVE.finditer(text)}


def png(prompt: str, width: int, height: int) -> bytes:
    digest = hashlib.sha256(prompt.encode()).digest()
    out = io.BytesIO()
    Image.new("RGB", (width, height), (digest[0], digest[1], digest[2])).save(out, format="PNG")
    return out.getvalue()


def size_of(value: Any) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", str(value or "1024x1024"))
    return (int(match.group(1)), int(match.group(2))) if match else (1024, 1024)


async def before(request: web.Request, found: dict[str, str]) -> web.StreamResponse | None:
    """The directives that apply before any answer: delay, drop, garbage."""
    if "delay" in found:
        await asyncio.sleep(float(found["delay"] or 0))
    if "drop" in found and request.transport is not None:
        request.transport.abort()
        return web.Response(status=500)
    if "garbage" in found:
        return web.Response(text="<html>502 Bad Gateway</html> not json {", status=200)
    return None


def recorded(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = {
            "id": next(request.app[COUNTER]),
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "authorization": request.headers.get("authorization"),
            "accept": request.headers.get("accept"),
            "content_type": request.headers.get("content-type"),
            "body": body,
            "status": None,
        }
        request.app[RECORDS].append(record)
        response = await handler(request, record)
        record["status"] = response.status
        return response

    return endpoint


async def openai_images(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    body = record["body"] or {}
    prompt = str(body.get("prompt", ""))
    found = directives(prompt)
    early = await before(request, found)
    if early is not None:
        return early
    if "status" in found:
        status = int(found["status"])
        kind = "invalid_request_error" if status < 500 else "api_error"
        error = {
            "message": f"fake images error {status} ({SECRET_DETAIL})",
            "type": kind,
            "param": None,
            "code": "fake_code",
        }
        return web.json_response({"error": error}, status=status)
    width, height = size_of(body.get("size"))
    items = []
    for n in range(int(body.get("n") or 1)):
        data = b"not an image" if "notimage" in found else png(f"{prompt}#{n}", width, height)
        if "url" in found:
            name = f"openai-{record['id']}-{n}.png"
            request.app[FILES][name] = data
            items.append({"url": f"{request.scheme}://{request.host}/files/{name}"})
        else:
            items.append({"b64_json": base64.b64encode(data).decode()})
    return web.json_response({"created": int(time.time()), "data": items})


async def novelai_generate(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    body = record["body"] or {}
    prompt = str(body.get("input", ""))
    found = directives(prompt)
    early = await before(request, found)
    if early is not None:
        return early
    if "status" in found:
        status = int(found["status"])
        message = f"fake novelai error {status} ({SECRET_DETAIL})"
        return web.json_response({"statusCode": status, "message": message}, status=status)
    parameters = body.get("parameters") or {}
    width, height = int(parameters.get("width", 0)), int(parameters.get("height", 0))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        for n in range(int(parameters.get("n_samples") or 1)):
            data = b"not an image" if "notimage" in found else png(f"{prompt}#{n}", width, height)
            out.writestr(f"image_{n}.png", data)
    return web.Response(body=archive.getvalue(), content_type="application/x-zip-compressed")


async def tensorart_create(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    body = record["body"] or {}
    stages = {s.get("type"): s for s in body.get("stages", []) if isinstance(s, dict)}
    diffusion = stages.get("DIFFUSION", {}).get("diffusion", {})
    prompt = " ".join(p.get("text", "") for p in diffusion.get("prompts", []))
    found = directives(prompt)
    early = await before(request, found)
    if early is not None:
        return early
    job_id = f"ta{record['id']}"
    request.app[JOBS][job_id] = {
        "prompt": prompt,
        "found": found,
        "width": int(diffusion.get("width", 0)),
        "height": int(diffusion.get("height", 0)),
        "count": int(stages.get("INPUT_INITIALIZE", {}).get("inputInitialize", {}).get("count", 1)),
        "seed": stages.get("INPUT_INITIALIZE", {}).get("inputInitialize", {}).get("seed"),
        "polls": 0,
    }
    return web.json_response({"job": {"id": job_id, "status": "CREATED"}})


async def tensorart_get(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    job = request.app[JOBS].get(request.match_info["job_id"])
    if job is None:
        return web.json_response({"code": 5, "message": "job not found"}, status=404)
    job["polls"] += 1
    job_id = request.match_info["job_id"]
    if job["polls"] < 2:
        return web.json_response({"job": {"id": job_id, "status": "RUNNING"}})
    if "status" in job["found"]:
        failed = {"reason": f"fake tensorart failure ({SECRET_DETAIL})"}
        return web.json_response({"job": {"id": job_id, "status": "FAILED", "failedInfo": failed}})
    images = []
    for n in range(job["count"]):
        name = f"{job_id}-{n}.png"
        request.app[FILES][name] = png(f"{job['prompt']}#{n}", job["width"], job["height"])
        url = f"{request.scheme}://{request.host}/files/{name}"
        images.append({"id": name, "url": url, "seed": str(int(job["seed"]) + n)})
    success = {"images": images}
    return web.json_response({"job": {"id": job_id, "status": "SUCCESS", "successInfo": success}})


async def files(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    data = request.app[FILES].get(request.match_info["name"])
    if data is None:
        return web.Response(status=404)
    return web.Response(body=data, content_type="image/png")


async def not_found(request: web.Request, record: dict[str, Any]) -> web.StreamResponse:
    return web.json_response({"error": {"message": "no such route"}}, status=404)


async def fake_requests(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[RECORDS])


async def fake_reset(request: web.Request) -> web.StreamResponse:
    request.app[RECORDS].clear()
    return web.json_response({"ok": True})


def create_app() -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[RECORDS] = []
    app[COUNTER] = itertools.count(1)
    app[FILES] = {}
    app[JOBS] = {}
    app.router.add_get("/_fake/requests", fake_requests)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/v1/images/generations", recorded(openai_images))
    app.router.add_post("/ai/generate-image", recorded(novelai_generate))
    app.router.add_post("/v1/jobs", recorded(tensorart_create))
    app.router.add_get("/v1/jobs/{job_id}", recorded(tensorart_get))
    app.router.add_get("/files/{name}", recorded(files))
    app.router.add_route("*", "/{tail:.*}", recorded(not_found))
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fake image providers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    print(f"fake images upstream listening on http://{args.host}:{args.port}", flush=True)
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        shutdown_timeout=1.0,
        handle_signals=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
