"""Key permissions: the four names, parsing, and the stored form."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from serika.errors import InvalidRequest


class Permission(StrEnum):
    TEXT_GENERATION = "text_generation"
    IMAGE_GENERATION = "image_generation"
    CHARACTER_INFO = "character_info"
    USER_INFO = "user_info"


ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)
_ORDER = {p: i for i, p in enumerate(Permission)}


def parse_permissions(value: object, *, param: str = "permissions") -> frozenset[Permission]:
    """A list of permission names from a request; unknown or malformed names are a 400."""
    if not isinstance(value, list):
        raise InvalidRequest("permissions must be a list of permission names", param=param)
    result: set[Permission] = set()
    for item in value:
        if not isinstance(item, str):
            raise InvalidRequest("each permission must be a string", param=param)
        try:
            result.add(Permission(item))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise InvalidRequest(
                f"unknown permission {item!r}; known permissions are {known}", param=param
            ) from None
    return frozenset(result)


def ordered(permissions: Iterable[Permission]) -> list[str]:
    """Permissions in their canonical order, as answers list them."""
    return [p.value for p in sorted(permissions, key=_ORDER.__getitem__)]


def to_stored(permissions: Iterable[Permission]) -> str:
    return ",".join(ordered(permissions))


def from_stored(value: str) -> frozenset[Permission]:
    return frozenset(Permission(p) for p in value.split(",") if p)
