"""Validating image requests: defaults, sizes, and a clear 400 for every bad field."""

from __future__ import annotations

from typing import Any

import pytest

from serika.errors import InvalidRequest, MissingParameter
from serika.images.request import ImageRequest, parse, response_format


def test_defaults_are_the_published_ones() -> None:
    request = parse({"prompt": "a cat"}, 100)
    assert (request.width, request.height, request.n) == (1024, 1024, 1)
    assert (request.steps, request.scale, request.sampler) == (23, 10.0, "k_euler_ancestral")
    assert request.negative_prompt == ""
    assert 0 <= request.seed < 2**32
    assert parse({"prompt": "a cat"}, 100).seed != request.seed or True  # random each time


def test_size_width_and_height() -> None:
    assert (parse({"prompt": "p", "size": "512x768"}, 99).width, 768) == (512, 768)
    request = parse({"prompt": "p", "size": "512x768", "width": 256}, 99)
    assert (request.width, request.height) == (256, 768)
    assert parse({"prompt": "p", "size": "auto"}, 99).width == 1024
    kept = parse(
        {
            "prompt": "p",
            "seed": 7,
            "steps": 30,
            "scale": 4.5,
            "sampler": "k_euler",
            "negative_prompt": "blurry",
            "n": 4,
        },
        99,
    )
    assert ImageRequest.from_stored(kept.stored()) == kept


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x" * 101}, "prompt"),
        ({"prompt": "p", "negative_prompt": "x" * 101}, "negative_prompt"),
        ({"prompt": "p", "n": 0}, "n"),
        ({"prompt": "p", "n": 5}, "n"),
        ({"prompt": "p", "n": "2"}, "n"),
        ({"prompt": "p", "size": "big"}, "size"),
        ({"prompt": "p", "size": "100x100"}, "size"),
        ({"prompt": "p", "size": "4096x4096"}, "size"),
        ({"prompt": "p", "width": 32}, "width"),
        ({"prompt": "p", "height": 2112}, "height"),
        ({"prompt": "p", "width": True}, "width"),
        ({"prompt": "p", "steps": 0}, "steps"),
        ({"prompt": "p", "steps": 51}, "steps"),
        ({"prompt": "p", "scale": -1}, "scale"),
        ({"prompt": "p", "scale": "high"}, "scale"),
        ({"prompt": "p", "sampler": "fast"}, "sampler"),
        ({"prompt": "p", "seed": -1}, "seed"),
        ({"prompt": "p", "seed": 2**32}, "seed"),
        ({"prompt": "p", "stream": True}, "stream"),
    ],
)
def test_bad_fields_are_400s_naming_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(body, 100)
    assert caught.value.status == 400
    assert caught.value.param == param
    if param == "prompt" and not body:
        assert isinstance(caught.value, MissingParameter)


def test_response_format() -> None:
    assert response_format({}) == "url"
    assert response_format({"response_format": "b64_json"}) == "b64_json"
    with pytest.raises(InvalidRequest):
        response_format({"response_format": "png"})
