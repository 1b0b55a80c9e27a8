"""JSON answers (orjson) and the OpenAI-shaped error answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from serika.errors import SerikaError


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def error_response(error: SerikaError) -> Response:
    return JSON(error.body(), status_code=error.status, headers=error.headers)


def no_content() -> Response:
    return Response(status_code=204)
