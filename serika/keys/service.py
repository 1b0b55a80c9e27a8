"""The key lifecycle: create, list, get, edit, disable/enable, regenerate, delete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from serika.clock import Clock
from serika.errors import Conflict, InvalidRequest, NotFound
from serika.ids import looks_like_id, new_id
from serika.keys.format import generate_key, hint
from serika.keys.hashing import SecretHasher
from serika.keys.model import ApiKey, IssuedKey, KeyStatus
from serika.keys.permissions import ALL_PERMISSIONS, Permission, to_stored
from serika.keys.revocation import Revocations
from serika.keys.store import KeyStore

NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """A partial edit; ``None`` leaves a field as it is."""

    name: str | None = None
    permissions: frozenset[Permission] | None = None
    active: bool | None = None


def clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidRequest("name must be a string", param="name")
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= NAME_MAX:
        raise InvalidRequest(
            f"name must be 1 to {NAME_MAX} characters after trimming", param="name"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise InvalidRequest("name must not contain control characters", param="name")
    return cleaned


def _check_id(key_id: str) -> None:
    if not looks_like_id("key", key_id):
        raise NotFound(f"no API key with id {key_id!r}", param="id")


class KeyService:
    def __init__(
        self,
        store: KeyStore,
        hasher: SecretHasher,
        clock: Clock,
        revocations: Revocations,
        max_keys_per_account: int,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._revocations = revocations
        self._max_keys = max_keys_per_account

    async def create(
        self, user_id: str, name: object, permissions: Iterable[Permission] | None
    ) -> IssuedKey:
        cleaned = clean_name(name)
        perms = ALL_PERMISSIONS if permissions is None else frozenset(permissions)
        if await self._store.count_for_user(user_id) >= self._max_keys:
            raise Conflict(
                f"this account already has {self._max_keys} API keys, the most allowed; "
                "delete one first",
                code="key_limit_reached",
            )
        secret = generate_key()
        now = self._clock.now()
        key_id = new_id("key")
        await self._store.insert(
            {
                "id": key_id,
                "user_id": user_id,
                "name": cleaned,
                "key_hash": self._hasher.digest(secret),
                "hint": hint(secret),
                "permissions": to_stored(perms),
                "status": KeyStatus.ACTIVE.value,
                "created_at": now,
                "updated_at": now,
            }
        )
        return IssuedKey(await self.get(user_id, key_id), secret)

    async def list(self, user_id: str) -> list[ApiKey]:
        return await self._store.list_for_user(user_id)

    async def get(self, user_id: str, key_id: str) -> ApiKey:
        _check_id(key_id)
        key = await self._store.get_for_user(user_id, key_id)
        if key is None:
            raise NotFound(f"no API key with id {key_id!r}", param="id")
        return key

    async def update(self, user_id: str, key_id: str, changes: KeyChanges) -> ApiKey:
        _check_id(key_id)
        values: dict[str, object] = {"updated_at": self._clock.now()}
        if changes.name is not None:
            values["name"] = clean_name(changes.name)
        if changes.permissions is not None:
            values["permissions"] = to_stored(changes.permissions)
        if changes.active is not None:
            status = KeyStatus.ACTIVE if changes.active else KeyStatus.DISABLED
            values["status"] = status.value
        if not await self._store.update_for_user(user_id, key_id, values):
            raise NotFound(f"no API key with id {key_id!r}", param="id")
        if changes.permissions is not None or changes.active is not None:
            await self._revocations.publish()
        return await self.get(user_id, key_id)

    async def regenerate(self, user_id: str, key_id: str) -> IssuedKey:
        _check_id(key_id)
        secret = generate_key()
        values = {
            "key_hash": self._hasher.digest(secret),
            "hint": hint(secret),
            "updated_at": self._clock.now(),
        }
        if not await self._store.update_for_user(user_id, key_id, values):
            raise NotFound(f"no API key with id {key_id!r}", param="id")
        await self._revocations.publish()
        return IssuedKey(await self.get(user_id, key_id), secret)

    async def delete(self, user_id: str, key_id: str) -> None:
        _check_id(key_id)
        if not await self._store.delete_for_user(user_id, key_id):
            raise NotFound(f"no API key with id {key_id!r}", param="id")
        await self._revocations.publish()
