"""Reading the presented API key out of the Authorization header value."""

from __future__ import annotations

from serika.errors import AuthenticationFailed


def presented_key(authorization: str | None) -> str:
    """``Bearer sk-…`` or the bare ``sk-…`` of old Serika examples."""
    if not authorization or not authorization.strip():
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'.",
            code="missing_api_key",
        )
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value:
        raise AuthenticationFailed(
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'.",
            code="missing_api_key",
        )
    return value
