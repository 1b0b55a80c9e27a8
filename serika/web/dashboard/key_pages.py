"""API Keys: list, create (secret shown once), edit, enable/disable, regenerate, delete.

Every change goes through ``KeyService``, exactly as the JSON API does. htmx posts get the
key's card back (or nothing after a delete; the "No keys yet" panel after the last one) to swap
in place; plain form posts are redirected.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import SerikaError
from serika.keys.model import ApiKey, IssuedKey
from serika.keys.permissions import Permission, ordered, parse_permissions
from serika.keys.service import NAME_MAX, KeyChanges
from serika.web.dashboard.view import View, field, is_htmx
from serika.web.routing import services

# The one-line explanation beside each permission's checkbox.
PERMISSION_HELP: dict[str, str] = {
    Permission.TEXT_GENERATION.value: "Chat and text completions (/chat/completions, "
    "/completions, /generate/text).",
    Permission.IMAGE_GENERATION.value: "Generate images, directly or as background jobs.",
    Permission.CHARACTER_INFO.value: "List and read characters (/characters).",
    Permission.USER_INFO.value: "Read your profile and usage (/user, /usage).",
}


def _permissions(form: FormData) -> frozenset[Permission]:
    return parse_permissions([v for v in form.getlist("permissions") if isinstance(v, str)])


def _key_id(request: Request) -> str:
    return str(request.path_params["key_id"])


class KeyPages:
    def __init__(self, view: View) -> None:
        self.view = view

    def _context(self, **values: object) -> dict[str, object]:
        return {
            "permission_help": PERMISSION_HELP,
            "ordered": ordered,
            "name_max": NAME_MAX,
            "edit_error": None,
            **values,
        }

    def _card(
        self,
        request: Request,
        session: Session,
        key: ApiKey,
        *,
        open_edit: bool = False,
        saved: bool = False,
        edit_error: str | None = None,
    ) -> Response:
        context = self._context(key=key, open_edit=open_edit, saved=saved, edit_error=edit_error)
        return self.view.render(request, "key_card.html", context, session=session)

    async def list_page(self, request: Request, session: Session) -> Response:
        keys = await services(request).keys.list(session.user.id)
        return self.view.render(request, "keys.html", self._context(keys=keys), session=session)

    def _new_form(
        self,
        request: Request,
        session: Session,
        name: str = "",
        checked: frozenset[str] | None = None,
        error: SerikaError | None = None,
    ) -> HTMLResponse:
        return self.view.render(
            request,
            "key_new.html",
            self._context(
                name=name,
                checked=checked if checked is not None else frozenset(),
                error=error.message if error else None,
            ),
            session=session,
            status_code=error.status if error else 200,
        )

    async def new_page(self, request: Request, session: Session) -> Response:
        return self._new_form(request, session)

    def _secret_page(
        self, request: Request, session: Session, issued: IssuedKey, *, regenerated: bool
    ) -> Response:
        return self.view.render(
            request,
            "key_secret.html",
            self._context(key=issued.key, secret=issued.secret, regenerated=regenerated),
            session=session,
            status_code=200 if regenerated else 201,
        )

    async def create(self, request: Request, session: Session) -> Response:
        form = await request.form()
        name = field(form, "name")
        raw = frozenset(v for v in form.getlist("permissions") if isinstance(v, str))
        try:
            issued = await services(request).keys.create(session.user.id, name, _permissions(form))
        except SerikaError as error:
            return self._new_form(request, session, name, raw, error)
        return self._secret_page(request, session, issued, regenerated=False)

    async def edit(self, request: Request, session: Session) -> Response:
        form = await request.form()
        keys = services(request).keys
        try:
            changes = KeyChanges(name=field(form, "name"), permissions=_permissions(form))
            key = await keys.update(session.user.id, _key_id(request), changes)
        except SerikaError as error:
            if not is_htmx(request):
                raise
            key = await keys.get(session.user.id, _key_id(request))
            return self._card(request, session, key, open_edit=True, edit_error=error.message)
        if is_htmx(request):
            return self._card(request, session, key, saved=True)
        return RedirectResponse("/keys?notice=key-saved", status_code=303)

    async def set_active(self, request: Request, session: Session) -> Response:
        form = await request.form()
        changes = KeyChanges(active=field(form, "active") == "true")
        key = await services(request).keys.update(session.user.id, _key_id(request), changes)
        if is_htmx(request):
            return self._card(request, session, key)
        return RedirectResponse("/keys?notice=key-saved", status_code=303)

    async def regenerate(self, request: Request, session: Session) -> Response:
        issued = await services(request).keys.regenerate(session.user.id, _key_id(request))
        return self._secret_page(request, session, issued, regenerated=True)

    async def delete(self, request: Request, session: Session) -> Response:
        found = services(request)
        await found.keys.delete(session.user.id, _key_id(request))
        if is_htmx(request):
            if not await found.keys.list(session.user.id):  # the last one: say so at once
                return self.view.render(request, "key_none.html", {}, session=session)
            return HTMLResponse("", headers={"Cache-Control": "no-store"})
        return RedirectResponse("/keys?notice=key-deleted", status_code=303)

    def routes(self) -> list[Route]:
        page = self.view.page
        post = ["POST"]
        return [
            page("/keys", self.list_page),
            page("/keys", self.create, methods=post),
            page("/keys/new", self.new_page),
            page("/keys/{key_id}/edit", self.edit, methods=post),
            page("/keys/{key_id}/active", self.set_active, methods=post),
            page("/keys/{key_id}/regenerate", self.regenerate, methods=post),
            page("/keys/{key_id}/delete", self.delete, methods=post),
        ]
