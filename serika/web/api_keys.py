"""``/api/openai/v1/keys``: the key lifecycle, for a signed-in account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.keys.permissions import parse_permissions
from serika.keys.service import KeyChanges
from serika.web.bodies import json_object, optional_bool, required
from serika.web.presenters import key_json
from serika.web.responses import JSON, no_content
from serika.web.routing import services, session_route


def _key_id(request: Request) -> str:
    return str(request.path_params["key_id"])


async def list_keys(request: Request, session: Session) -> Response:
    keys = await services(request).keys.list(session.user.id)
    return JSON([key_json(k) for k in keys])


async def create_key(request: Request, session: Session) -> Response:
    body = await json_object(request)
    permissions = body.get("permissions")
    issued = await services(request).keys.create(
        session.user.id,
        required(body, "name"),
        None if permissions is None else parse_permissions(permissions),
    )
    return JSON(key_json(issued.key, issued.secret), status_code=201)


async def get_key(request: Request, session: Session) -> Response:
    key = await services(request).keys.get(session.user.id, _key_id(request))
    return JSON(key_json(key))


async def _update(request: Request, session: Session, changes: KeyChanges) -> Response:
    key = await services(request).keys.update(session.user.id, _key_id(request), changes)
    return JSON(key_json(key))


async def put_permissions(request: Request, session: Session) -> Response:
    body = await json_object(request)
    permissions = parse_permissions(required(body, "permissions"))
    return await _update(request, session, KeyChanges(permissions=permissions))


async def patch_key(request: Request, session: Session) -> Response:
    body = await json_object(request)
    permissions = body.get("permissions")
    changes = KeyChanges(
        name=body.get("name"),
        permissions=None if permissions is None else parse_permissions(permissions),
        active=optional_bool(body, "active"),
    )
    return await _update(request, session, changes)


async def disable_key(request: Request, session: Session) -> Response:
    return await _update(request, session, KeyChanges(active=False))


async def enable_key(request: Request, session: Session) -> Response:
    return await _update(request, session, KeyChanges(active=True))


async def regenerate_key(request: Request, session: Session) -> Response:
    issued = await services(request).keys.regenerate(session.user.id, _key_id(request))
    return JSON(key_json(issued.key, issued.secret))


async def delete_key(request: Request, session: Session) -> Response:
    await services(request).keys.delete(session.user.id, _key_id(request))
    return no_content()


def routes() -> list[Route]:
    return [
        session_route("/keys", list_keys),
        session_route("/keys", create_key, methods=["POST"]),
        session_route("/keys/{key_id}", get_key),
        session_route("/keys/{key_id}", patch_key, methods=["PATCH"]),
        session_route("/keys/{key_id}", delete_key, methods=["DELETE"]),
        session_route("/keys/{key_id}/permissions", put_permissions, methods=["PUT"]),
        session_route("/keys/{key_id}/disable", disable_key, methods=["POST"]),
        session_route("/keys/{key_id}/enable", enable_key, methods=["POST"]),
        session_route("/keys/{key_id}/regenerate", regenerate_key, methods=["POST"]),
    ]
