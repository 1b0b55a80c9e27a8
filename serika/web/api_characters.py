"""Characters: the key API (``character_info``) and the owners' session API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.characters import avatars
from serika.characters.model import Character, CharacterQuery
from serika.characters.service import parse_input, parse_page
from serika.errors import NotFound
from serika.keys.permissions import Permission
from serika.services import Services
from serika.web.bodies import json_object
from serika.web.cdn import serve_blob
from serika.web.responses import JSON, iso, no_content
from serika.web.routing import ApiCall, key_route, public_route, services, session_route

AVATAR_PATH = avatars.CDN_PREFIX
OWNER = "/api/characters"


def avatar_url(character: Character) -> str | None:
    return AVATAR_PATH + character.avatar if character.avatar else None


def listed_json(character: Character) -> dict[str, Any]:
    return {
        "id": character.id,
        "name": character.name,
        "description": character.description,
        "avatar": avatar_url(character),
        "creator": character.creator,
        "createdOn": iso(character.created_at),
        "tags": list(character.tags),
        "isNSFW": character.is_nsfw,
    }


def detail_json(character: Character) -> dict[str, Any]:
    return {
        "id": character.id,
        "name": character.name,
        "description": character.description,
        "avatar_url": avatar_url(character),
        "created_at": iso(character.created_at),
        "is_nsfw": character.is_nsfw,
        "tags": list(character.tags),
        "has_starter_message": bool(character.starter_message),
        "creator": character.creator,
    }


def owner_json(character: Character) -> dict[str, Any]:
    """Everything, hidden fields included: only ever sent to the owner's session."""
    return {
        **detail_json(character),
        "system_prompt": character.system_prompt,
        "personality": character.personality,
        "scenario": character.scenario,
        "starter_message": character.starter_message,
        "is_public": character.is_public,
        "updated_at": iso(character.updated_at),
    }


def _query(request: Request, viewer_id: str, only_own: bool = False) -> CharacterQuery:
    params = request.query_params
    search, tag, limit, offset = parse_page(
        params.get("search"), params.get("tag"), params.get("limit"), params.get("offset")
    )
    return CharacterQuery(viewer_id, search, tag, limit, offset, only_own)


# --- the key API ------------------------------------------------------------------------------


async def list_characters(request: Request, call: ApiCall) -> Response:
    found = await services(request).characters.search(_query(request, call.credential.user_id))
    return JSON([listed_json(c) for c in found])


async def get_character(request: Request, call: ApiCall) -> Response:
    character = await services(request).characters.visible(
        call.credential.user_id, str(request.path_params["character_id"])
    )
    return JSON(detail_json(character))


def key_routes() -> list[Route]:
    info = Permission.CHARACTER_INFO
    return [
        key_route("/characters", list_characters, permission=info),
        key_route("/characters/{character_id}", get_character, permission=info),
    ]


# --- the owners' session API (/api/characters) ------------------------------------------------


async def create_character(request: Request, session: Session) -> Response:
    data = parse_input(await json_object(request), creating=True)
    character = await services(request).characters.create(session.user.id, data)
    return JSON(owner_json(character), status_code=201)


async def my_characters(request: Request, session: Session) -> Response:
    query = _query(request, session.user.id, only_own=True)
    found = await services(request).characters.search(query)
    return JSON([owner_json(c) for c in found])


async def read_character(request: Request, session: Session) -> Response:
    character_id = str(request.path_params["character_id"])
    character = await services(request).characters.owned(session.user.id, character_id)
    return JSON(owner_json(character))


async def edit_character(request: Request, session: Session) -> Response:
    data = parse_input(await json_object(request), creating=False)
    character = await services(request).characters.update(
        session.user.id, str(request.path_params["character_id"]), data
    )
    return JSON(owner_json(character))


async def remove_character(found: Services, owner_id: str, character_id: str) -> None:
    """Deletes a character and its avatar file (the JSON API and the dashboard share this)."""
    character = await found.characters.delete(owner_id, character_id)
    if character.avatar:
        await found.blobs.delete(avatars.blob_key(character.avatar))


async def replace_avatar(
    found: Services, owner_id: str, character_id: str, image: bytes | None
) -> Character:
    """Stores ``image`` as the character's avatar (``None`` removes it); drops the old file."""
    before = await found.characters.owned(owner_id, character_id)
    name = await avatars.store(found.blobs, image) if image is not None else None
    character = await found.characters.set_avatar(owner_id, character_id, name)
    if before.avatar:
        await found.blobs.delete(avatars.blob_key(before.avatar))
    return character


async def delete_character(request: Request, session: Session) -> Response:
    await remove_character(
        services(request), session.user.id, str(request.path_params["character_id"])
    )
    return no_content()


async def upload_avatar(request: Request, session: Session) -> Response:
    """``PUT /api/characters/{id}/avatar`` with the image file as the body."""
    character = await replace_avatar(
        services(request),
        session.user.id,
        str(request.path_params["character_id"]),
        await request.body(),
    )
    return JSON(owner_json(character))


async def remove_avatar(request: Request, session: Session) -> Response:
    character = await replace_avatar(
        services(request), session.user.id, str(request.path_params["character_id"]), None
    )
    return JSON(owner_json(character))


async def avatar_file(request: Request) -> Response:
    """``GET /api/cdn/avatars/{file}``: public, by unguessable name."""
    name = str(request.path_params["file_name"])
    if not avatars.is_file_name(name):
        raise NotFound("No such avatar")
    return await serve_blob(request, avatars.blob_key(name), name.removesuffix(".png"))


def cdn_routes() -> list[Route]:
    """Mounted at ``/api/cdn``."""
    return [public_route("/avatars/{file_name}", avatar_file, methods=["GET", "HEAD"])]


def owner_routes() -> list[Route]:
    return [
        session_route(OWNER, create_character, methods=["POST"]),
        session_route(f"{OWNER}/mine", my_characters),
        session_route(f"{OWNER}/{{character_id}}", read_character),
        session_route(f"{OWNER}/{{character_id}}", edit_character, methods=["PATCH"]),
        session_route(f"{OWNER}/{{character_id}}", delete_character, methods=["DELETE"]),
        session_route(f"{OWNER}/{{character_id}}/avatar", upload_avatar, methods=["PUT"]),
        session_route(f"{OWNER}/{{character_id}}/avatar", remove_avatar, methods=["DELETE"]),
    ]
