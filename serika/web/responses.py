"""JSON answers (orjson) and the OpenAI-shaped error answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from serika.errors import SerikaError

_JSON = "application/json"
_JSON_TYPE = (b"content-type", _JSON.encode())


class JSON(Response):
    media_type = _JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's, with the common case (no headers given, a status with a body) in one
        step: every API answer is made here."""
        status = self.status_code
        if headers is None and self.media_type == _JSON and 200 <= status != 204 and status != 304:
            self.raw_headers = [(b"content-length", b"%d" % len(self.body)), _JSON_TYPE]
        else:
            super().init_headers(headers)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def error_response(error: SerikaError) -> Response:
    return JSON(error.body(), status_code=error.status, headers=error.headers)


def no_content() -> Response:
    return Response(status_code=204)
