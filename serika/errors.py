"""The error tree, and its one mapping to OpenAI-shaped responses.

Domain code raises these; the web layer turns any of them into
``{"error": {"message", "type", "param", "code"}}`` with the status given here.
"""

from __future__ import annotations


class SerikaError(Exception):
    """Base of every error a caller may see."""

    status: int = 400
    type: str = "invalid_request_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(SerikaError):
    status = 400
    default_code = "invalid_parameter"


class InvalidJSON(InvalidRequest):
    default_code = "invalid_json"


class MissingParameter(InvalidRequest):
    default_code = "missing_parameter"


class AuthenticationFailed(SerikaError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(SerikaError):
    status = 403
    type = "permission_error"
    default_code = "insufficient_permissions"


class CSRFRejected(PermissionDenied):
    default_code = "csrf_failed"


class NotFound(SerikaError):
    status = 404
    type = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    # OpenAI answers unknown models with invalid_request_error; the spec follows it.
    type = "invalid_request_error"
    default_code = "model_not_found"


class MethodNotAllowed(SerikaError):
    status = 405
    default_code = "method_not_allowed"


class Conflict(SerikaError):
    status = 409
    default_code = "conflict"


class RequestTooLarge(SerikaError):
    status = 413
    default_code = "request_too_large"


class RateLimited(SerikaError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class InternalError(SerikaError):
    status = 500
    type = "api_error"
    default_code = "internal_error"


class UpstreamFailed(SerikaError):
    """The provider could not be reached, or failed (5xx), or answered nonsense."""

    status = 502
    type = "api_error"
    default_code = "upstream_error"


class ProviderNotConfigured(SerikaError):
    status = 503
    type = "api_error"
    default_code = "provider_not_configured"


class UpstreamTimeout(SerikaError):
    status = 504
    type = "api_error"
    default_code = "upstream_timeout"


class UpstreamRejected(SerikaError):
    """The provider refused the request (4xx): passed on with its status, scrubbed."""

    def __init__(
        self, status: int, message: str, *, type_: str, code: str | None, param: str | None
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.status = status
        self.type = type_


class ClientDisconnected(SerikaError):
    """The caller went away before the answer was ready (recorded as status 499)."""

    status = 499
    default_code = "client_disconnected"
