"""Characters: my characters (create, edit, delete) and the public ones (search, browse).

The form is turned into the same body the JSON API takes and checked by the same
``parse_input``; every rule lives in ``CharacterService``.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.characters.model import Character, CharacterQuery
from serika.characters.service import LIMITS, parse_input, parse_page
from serika.errors import InvalidRequest, SerikaError
from serika.web.api_characters import avatar_url, remove_character, replace_avatar
from serika.web.dashboard.view import View, field, is_htmx
from serika.web.routing import services

TEXT_FIELDS = tuple(LIMITS)


def form_body(form: FormData) -> dict[str, Any]:
    """The JSON API's body, from the HTML form (tags comma-separated, checkboxes as flags)."""
    body: dict[str, Any] = {name: field(form, name) for name in TEXT_FIELDS}
    body["tags"] = [t for t in (part.strip() for part in field(form, "tags").split(",")) if t]
    body["is_nsfw"] = field(form, "is_nsfw") == "on"
    body["is_public"] = field(form, "is_public") == "on"
    return body


def form_values(character: Character | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the form shows: what was just typed, or the character as stored."""
    if body is not None:
        return {**body, "tags": ", ".join(body["tags"])}
    if character is None:
        return {**dict.fromkeys(TEXT_FIELDS, ""), "tags": "", "is_nsfw": False, "is_public": False}
    values: dict[str, Any] = {name: getattr(character, name) for name in TEXT_FIELDS}
    values.update(
        tags=", ".join(character.tags), is_nsfw=character.is_nsfw, is_public=character.is_public
    )
    return values


def _character_id(request: Request) -> str:
    return str(request.path_params["character_id"])


class CharacterPages:
    def __init__(self, view: View) -> None:
        self.view = view

    async def _browse(self, request: Request, session: Session) -> tuple[dict[str, Any], int]:
        params = request.query_params
        search, tag = params.get("search", ""), params.get("tag", "")
        context: dict[str, Any] = {"search": search, "tag": tag, "browse_error": None}
        try:
            query = CharacterQuery(session.user.id, *parse_page(search, tag, "48", "0"))
            context["public"] = await services(request).characters.search(query)
        except SerikaError as error:
            context.update(public=[], browse_error=error.message)
            return context, error.status
        return context, 200

    async def list_page(self, request: Request, session: Session) -> Response:
        browse, status = await self._browse(request, session)
        if is_htmx(request):
            return self.view.render(
                request,
                "character_results.html",
                {"avatar_url": avatar_url, **browse},
                session=session,
            )
        mine = await services(request).characters.search(
            CharacterQuery(session.user.id, limit=100, only_own=True)
        )
        return self.view.render(
            request,
            "characters.html",
            {"mine": mine, "avatar_url": avatar_url, **browse},
            session=session,
            status_code=status,
        )

    def _form(
        self,
        request: Request,
        session: Session,
        character: Character | None,
        body: dict[str, Any] | None = None,
        error: SerikaError | None = None,
    ) -> Response:
        return self.view.render(
            request,
            "character_form.html",
            {
                "character": character,
                "values": form_values(character, body),
                "limits": LIMITS,
                "avatar": avatar_url(character) if character else None,
                "error": error.message if error else None,
                "error_param": error.param if error else None,
            },
            session=session,
            status_code=error.status if error else 200,
        )

    async def new_page(self, request: Request, session: Session) -> Response:
        return self._form(request, session, None)

    async def create(self, request: Request, session: Session) -> Response:
        body = form_body(await request.form())
        try:
            data = parse_input(body, creating=True)
            await services(request).characters.create(session.user.id, data)
        except SerikaError as error:
            return self._form(request, session, None, body, error)
        return RedirectResponse("/characters?notice=character-created", status_code=303)

    async def edit_page(self, request: Request, session: Session) -> Response:
        character = await services(request).characters.owned(
            session.user.id, _character_id(request)
        )
        return self._form(request, session, character)

    async def edit(self, request: Request, session: Session) -> Response:
        characters = services(request).characters
        character = await characters.owned(session.user.id, _character_id(request))
        body = form_body(await request.form())
        try:
            await characters.update(
                session.user.id, character.id, parse_input(body, creating=False)
            )
        except SerikaError as error:
            return self._form(request, session, character, body, error)
        return RedirectResponse("/characters?notice=character-saved", status_code=303)

    async def delete(self, request: Request, session: Session) -> Response:
        await remove_character(services(request), session.user.id, _character_id(request))
        return RedirectResponse("/characters?notice=character-deleted", status_code=303)

    async def avatar(self, request: Request, session: Session) -> Response:
        """Uploads (multipart field ``avatar``) or, with ``remove``, drops the avatar."""
        found = services(request)
        character = await found.characters.owned(session.user.id, _character_id(request))
        form = await request.form()
        upload = form.get("avatar")
        image: bytes | None = None
        if field(form, "remove") != "yes":
            if not isinstance(upload, UploadFile) or not upload.filename:
                error = InvalidRequest("Choose an image file to upload.", param="avatar")
                return self._form(request, session, character, error=error)
            image = await upload.read()
        try:
            await replace_avatar(found, session.user.id, character.id, image)
        except SerikaError as error:
            return self._form(request, session, character, error=error)
        return RedirectResponse(
            f"/characters/{character.id}/edit?notice=avatar-saved", status_code=303
        )

    def routes(self) -> list[Route]:
        page = self.view.page
        post = ["POST"]
        return [
            page("/characters", self.list_page),
            page("/characters/new", self.new_page),
            page("/characters/new", self.create, methods=post),
            page("/characters/{character_id}/edit", self.edit_page),
            page("/characters/{character_id}/edit", self.edit, methods=post),
            page("/characters/{character_id}/delete", self.delete, methods=post),
            page("/characters/{character_id}/avatar", self.avatar, methods=post),
        ]
