"""Signing in and out, registering, and the profile page (with the password change)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from serika.accounts.model import Session
from serika.errors import InvalidRequest, SerikaError
from serika.web.api_auth import (
    clear_session_cookies,
    client_address,
    session_token,
    set_session_cookies,
)
from serika.web.dashboard.security import (
    FORM_FIELD,
    check_form_token,
    form_token,
    remember_form_token,
)
from serika.web.dashboard.view import HOME, View, field, safe_next
from serika.web.routing import services


class AccountPages:
    def __init__(self, view: View) -> None:
        self.view = view

    def _form_page(
        self,
        request: Request,
        template: str,
        values: dict[str, str],
        error: SerikaError | None = None,
    ) -> Response:
        token = form_token(request)
        response = self.view.render(
            request,
            template,
            {
                "form_field": FORM_FIELD,
                "form_token": token,
                "values": values,
                "error": error.message if error else None,
                "error_param": error.param if error else None,
                "next": safe_next(request.query_params.get("next") or values.get("next")),
            },
            status_code=error.status if error else 200,
            headers=error.headers if error else None,
        )
        remember_form_token(request, response, token)
        return response

    async def home(self, request: Request, session: Session | None) -> Response:
        return RedirectResponse(HOME if session else "/login", status_code=303)

    async def login_page(self, request: Request, session: Session | None) -> Response:
        if session is not None:
            return RedirectResponse(HOME, status_code=303)
        return self._form_page(request, "login.html", {})

    async def login(self, request: Request, _session: Session | None) -> Response:
        form = await request.form()
        values = {"email": field(form, "email"), "next": field(form, "next")}
        check_form_token(request, form)
        try:
            session = await services(request).accounts.login(
                field(form, "email"), field(form, "password"), client_address(request)
            )
        except SerikaError as error:
            return self._form_page(request, "login.html", values, error)
        response = RedirectResponse(safe_next(values["next"]), status_code=303)
        set_session_cookies(request, response, session)
        return response

    async def register_page(self, request: Request, session: Session | None) -> Response:
        if session is not None:
            return RedirectResponse(HOME, status_code=303)
        return self._form_page(request, "register.html", {})

    async def register(self, request: Request, _session: Session | None) -> Response:
        form = await request.form()
        values = {"email": field(form, "email"), "username": field(form, "username")}
        check_form_token(request, form)
        accounts = services(request).accounts
        try:
            if field(form, "password") != field(form, "confirm_password"):
                raise InvalidRequest("The two passwords differ.", param="confirm_password")
            user = await accounts.register(
                field(form, "email"), field(form, "username"), field(form, "password")
            )
            session = await accounts.login(
                user.email, field(form, "password"), client_address(request)
            )
        except SerikaError as error:
            return self._form_page(request, "register.html", values, error)
        response = RedirectResponse(f"{HOME}?notice=welcome", status_code=303)
        set_session_cookies(request, response, session)
        return response

    async def logout(self, request: Request, _session: Session) -> Response:
        await services(request).accounts.logout(session_token(request))
        response = RedirectResponse("/login?notice=signed-out", status_code=303)
        clear_session_cookies(response)
        return response

    def _profile(
        self,
        request: Request,
        session: Session,
        *,
        error: SerikaError | None = None,
        changed: bool = False,
        limit_error: SerikaError | None = None,
        limit_saved: bool = False,
    ) -> Response:
        cap = session.user.spend_limit_micro_usd
        return self.view.render(
            request,
            "profile.html",
            {
                "error": error.message if error else None,
                "error_param": error.param if error else None,
                "changed": changed,
                "limit_error": limit_error.message if limit_error else None,
                "limit_saved": limit_saved,
                "spend_limit": f"{cap / 1_000_000:.2f}" if cap is not None else "",
            },
            session=session,
            status_code=failed.status if (failed := error or limit_error) else 200,
            headers=error.headers if error else None,
        )

    async def set_spending_limit(self, request: Request, session: Session) -> Response:
        """The monthly spending limit (USD); an empty field removes it. Same rule as the API."""
        form = await request.form()
        raw = field(form, "monthly_spending_limit").strip()
        try:
            try:
                dollars = float(raw) if raw else None
            except ValueError:
                raise InvalidRequest(
                    "Enter the limit in dollars, like 25 or 12.50, or leave it empty.",
                    param="monthly_spending_limit",
                ) from None
            user = await services(request).accounts.set_spending_limit(session.user.id, dollars)
        except SerikaError as error:
            return self._profile(request, session, limit_error=error)
        updated = Session(user=user, csrf_token=session.csrf_token, expires_at=session.expires_at)
        return self._profile(request, updated, limit_saved=True)

    async def profile(self, request: Request, session: Session) -> Response:
        return self._profile(request, session)

    async def change_password(self, request: Request, session: Session) -> Response:
        form = await request.form()
        try:
            if field(form, "new_password") != field(form, "confirm_password"):
                raise InvalidRequest("The two new passwords differ.", param="confirm_password")
            await services(request).accounts.change_password(
                session.user.id,
                field(form, "current_password"),
                field(form, "new_password"),
                keep_token=session_token(request),
                address=client_address(request),
            )
        except SerikaError as error:
            return self._profile(request, session, error=error)
        return self._profile(request, session, changed=True)

    def routes(self) -> list[Route]:
        view = self.view
        return [
            view.open_page("/", self.home),
            view.open_page("/login", self.login_page),
            view.open_page("/login", self.login, methods=["POST"]),
            view.open_page("/register", self.register_page),
            view.open_page("/register", self.register, methods=["POST"]),
            view.page("/logout", self.logout, methods=["POST"]),
            view.page("/profile", self.profile),
            view.page("/profile/password", self.change_password, methods=["POST"]),
            view.page("/profile/spending-limit", self.set_spending_limit, methods=["POST"]),
        ]
