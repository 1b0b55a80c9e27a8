"""JSON answers carry the headers Starlette would give them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response

from serika.web.responses import JSON


@pytest.mark.parametrize(
    ("content", "options"),
    [
        ({"a": "é"}, {}),
        ([1, 2], {"status_code": 201}),
        ({"error": {}}, {"status_code": 429, "headers": {"Retry-After": "3"}}),
        ({"x": 1}, {"headers": {"content-type": "application/problem+json"}}),
        (None, {"status_code": 204}),
        ({"x": 1}, {"media_type": "text/plain"}),
    ],
)
def test_json_answers_carry_the_headers_starlette_would_give(
    content: Any, options: dict[str, Any]
) -> None:
    answer = JSON(content, **options)
    starlette = Response(answer.body, **{"media_type": "application/json", **options})
    assert answer.raw_headers == starlette.raw_headers
