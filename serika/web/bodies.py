"""Reading request bodies: JSON parsed once, clear 400s for anything else."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from serika.errors import InvalidJSON, InvalidRequest, MissingParameter


async def json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidJSON("The request body must be a JSON object; it was empty.")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc.msg}.") from None
    if not isinstance(value, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    if b"\\u0000" in raw:
        # No database stores NUL in text; refuse it here rather than half-way through a write.
        raise InvalidRequest("Strings in the request body must not contain NUL characters.")
    return value


def required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise MissingParameter(f"'{name}' is required", param=name)
    return body[name]


def optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequest(f"'{name}' must be true or false", param=name)
