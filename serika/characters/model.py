"""What a character is, and its two faces: the owner's view and everyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Character:
    id: str
    owner_id: str
    creator: str
    name: str
    description: str
    system_prompt: str
    personality: str
    scenario: str
    starter_message: str
    tags: tuple[str, ...]
    is_nsfw: bool
    is_public: bool
    avatar: str | None
    created_at: datetime
    updated_at: datetime

    def visible_to(self, user_id: str) -> bool:
        return self.is_public or self.owner_id == user_id


@dataclass(frozen=True, slots=True)
class CharacterQuery:
    viewer_id: str
    search: str = ""
    tag: str = ""
    limit: int = 20
    offset: int = 0
    only_own: bool = False
