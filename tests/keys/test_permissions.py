"""Parsing permissions from requests and their stored form."""

from __future__ import annotations

import pytest

from serika.errors import InvalidRequest
from serika.keys.permissions import (
    ALL_PERMISSIONS,
    Permission,
    from_stored,
    ordered,
    parse_permissions,
    to_stored,
)


def test_the_four_permissions() -> None:
    assert {p.value for p in Permission} == {
        "text_generation",
        "image_generation",
        "character_info",
        "user_info",
    }


def test_parse_accepts_known_names_and_duplicates() -> None:
    parsed = parse_permissions(["user_info", "text_generation", "user_info"])
    assert parsed == {Permission.USER_INFO, Permission.TEXT_GENERATION}


def test_parse_accepts_an_empty_list() -> None:
    assert parse_permissions([]) == frozenset()


@pytest.mark.parametrize(
    "value",
    [["admin"], ["user_info", "USER_INFO"], "user_info", [1], None, {"user_info": True}],
)
def test_parse_rejects_anything_else_with_a_400(value: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_permissions(value)
    assert caught.value.status == 400
    assert caught.value.param == "permissions"


def test_unknown_name_is_named_in_the_message() -> None:
    with pytest.raises(InvalidRequest, match="'chat'"):
        parse_permissions(["chat"])


def test_stored_form_round_trips_in_canonical_order() -> None:
    perms = frozenset({Permission.USER_INFO, Permission.TEXT_GENERATION})
    assert to_stored(perms) == "text_generation,user_info"
    assert from_stored(to_stored(perms)) == perms
    assert from_stored("") == frozenset()
    assert ordered(ALL_PERMISSIONS) == [
        "text_generation",
        "image_generation",
        "character_info",
        "user_info",
    ]
