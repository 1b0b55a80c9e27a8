"""Creating, editing and finding characters, with every rule about who may see what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from serika.characters.model import Character, CharacterQuery
from serika.characters.store import CharacterStore
from serika.clock import Clock
from serika.errors import InvalidRequest, NotFound, PermissionDenied
from serika.ids import looks_like_id, new_id

LIMITS = {
    "name": 100,
    "description": 2000,
    "system_prompt": 20000,
    "personality": 5000,
    "scenario": 5000,
    "starter_message": 5000,
}
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,31}$")
MAX_TAGS = 20
MAX_PAGE = 100


class CharacterNotFound(NotFound):
    default_code = "character_not_found"


class PrivateCharacter(PermissionDenied):
    default_code = "private_character"


def _text(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"'{name}' is required", param=name, code="missing_parameter")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string", param=name)
    value = value.strip()
    if name == "name" and not value:
        raise InvalidRequest("name must not be empty", param=name)
    if len(value) > LIMITS[name]:
        raise InvalidRequest(f"{name} must be at most {LIMITS[name]} characters", param=name)
    return value


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidRequest(f"{name} must be true or false", param=name)


def clean_tags(value: object) -> list[str]:
    if not isinstance(value, list):
        raise InvalidRequest("tags must be a list of strings", param="tags")
    tags: dict[str, None] = {}
    for item in value:
        if not isinstance(item, str):
            raise InvalidRequest("tags must be a list of strings", param="tags")
        tag = " ".join(item.lower().split())
        if not TAG_PATTERN.fullmatch(tag):
            raise InvalidRequest(
                f"tag {item[:40]!r} must be 1-32 letters, digits, spaces, '-' or '_'",
                param="tags",
            )
        tags.setdefault(tag, None)
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"a character has at most {MAX_TAGS} tags", param="tags")
    return list(tags)


@dataclass(frozen=True, slots=True)
class CharacterInput:
    values: dict[str, Any]
    tags: list[str] | None


def parse_input(body: dict[str, Any], *, creating: bool) -> CharacterInput:
    values: dict[str, Any] = {}
    for name in LIMITS:
        text = _text(body, name, required=creating and name == "name")
        if text is not None:
            values[name] = text
        elif creating:
            values[name] = ""
    for name, default in (("is_nsfw", False), ("is_public", False)):
        flag = _flag(body, name)
        if flag is not None:
            values[name] = flag
        elif creating:
            values[name] = default
    tags = clean_tags(body["tags"]) if body.get("tags") is not None else None
    return CharacterInput(values, tags if tags is not None or not creating else [])


def parse_page(
    search: str | None, tag: str | None, limit: str | None, offset: str | None
) -> tuple[str, str, int, int]:
    def number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(f"{name} must be a whole number", param=name) from None
        if not low <= value <= high:
            raise InvalidRequest(f"{name} must be from {low} to {high}", param=name)
        return value

    if search is not None and len(search) > 200:
        raise InvalidRequest("search must be at most 200 characters", param="search")
    clean_tag = " ".join((tag or "").lower().split())
    return (
        search or "",
        clean_tag,
        number(limit, "limit", 20, 1, MAX_PAGE),
        number(offset, "offset", 0, 0, 1_000_000),
    )


class CharacterService:
    def __init__(self, store: CharacterStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, owner_id: str, data: CharacterInput) -> Character:
        now = self._clock.now()
        character_id = new_id("chr")
        await self._store.insert(
            {
                **data.values,
                "id": character_id,
                "owner_id": owner_id,
                "avatar": None,
                "created_at": now,
                "updated_at": now,
            },
            data.tags or [],
        )
        return await self.owned(owner_id, character_id)

    async def update(self, owner_id: str, character_id: str, data: CharacterInput) -> Character:
        self._check_id(character_id)
        values = {**data.values, "updated_at": self._clock.now()}
        if not await self._store.update(character_id, owner_id, values, data.tags):
            raise self._not_found(character_id)
        return await self.owned(owner_id, character_id)

    async def set_avatar(self, owner_id: str, character_id: str, avatar: str | None) -> Character:
        self._check_id(character_id)
        values = {"avatar": avatar, "updated_at": self._clock.now()}
        if not await self._store.update(character_id, owner_id, values, None):
            raise self._not_found(character_id)
        return await self.owned(owner_id, character_id)

    async def delete(self, owner_id: str, character_id: str) -> Character:
        character = await self.owned(owner_id, character_id)
        await self._store.delete(character_id, owner_id)
        return character

    async def owned(self, owner_id: str, character_id: str) -> Character:
        """A character its owner is working on; anyone else's id answers 404."""
        self._check_id(character_id)
        character = await self._store.get(character_id)
        if character is None or character.owner_id != owner_id:
            raise self._not_found(character_id)
        return character

    async def visible(self, viewer_id: str, character_id: str) -> Character:
        """A character a key may read or chat as: public, or the key owner's own."""
        self._check_id(character_id)
        character = await self._store.get(character_id)
        if character is None:
            raise self._not_found(character_id)
        if not character.visible_to(viewer_id):
            raise PrivateCharacter(
                f"The character '{character_id}' is private.", param="character_id"
            )
        return character

    async def search(self, query: CharacterQuery) -> list[Character]:
        return await self._store.search(query)

    def _check_id(self, character_id: object) -> None:
        if not isinstance(character_id, str) or not looks_like_id("chr", character_id):
            raise self._not_found(str(character_id)[:64])

    @staticmethod
    def _not_found(character_id: str) -> CharacterNotFound:
        return CharacterNotFound(f"No character with id '{character_id}'.", param="character_id")
