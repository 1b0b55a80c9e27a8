"""Deciding whether a verified key may call an endpoint."""

from __future__ import annotations

from serika.errors import PermissionDenied
from serika.keys.model import KeyCredential
from serika.keys.permissions import Permission


def permit(credential: KeyCredential, needed: Permission | None) -> None:
    """Raise ``PermissionDenied`` naming the permission the key lacks."""
    if needed is not None and needed not in credential.permissions:
        raise PermissionDenied(
            f"This API key does not have the '{needed.value}' permission needed for this "
            "endpoint. Add it to the key in the dashboard, or use another key.",
            code="insufficient_permissions",
        )
