"""The one place that turns exceptions into OpenAI-shaped answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from serika.errors import InternalError, MethodNotAllowed, NotFound, SerikaError
from serika.web.responses import error_response

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

log = logging.getLogger(__name__)


async def serika_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SerikaError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"No route for {request.method} {request.url.path}"))
    if exc.status_code == 405:
        not_allowed = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
        not_allowed.headers.update(exc.headers or {})
        return error_response(not_allowed)
    error = SerikaError(str(exc.detail))
    error.status = exc.status_code
    return error_response(error)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("The server had an error while processing the request."))


# The app's exception handlers (``create_app``); the API edge answers with the same ones.
EXCEPTION_HANDLERS: dict[type[Exception], ExceptionHandler] = {
    SerikaError: serika_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}


async def error_answer(request: Request, exc: Exception) -> Response:
    """What the exception handlers answer ``exc`` with: the most specific class's handler."""
    for cls in type(exc).__mro__:
        handler = EXCEPTION_HANDLERS.get(cls)
        if handler is not None:
            return await handler(request, exc)
    raise exc  # not an Exception subclass: nothing handles it
