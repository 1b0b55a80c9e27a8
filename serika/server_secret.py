"""The server secret behind every keyed hash: from settings, else a 0600 file in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from serika.config import Settings, SettingsError

FILE_NAME = "secret_key"


def load_server_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise SettingsError("SERIKA_SECRET_KEY must be at least 32 characters")
        return settings.secret_key.encode("utf-8")
    path = settings.data_dir / FILE_NAME
    return _read_or_create(path)


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text("ascii").strip()
        if len(value) < 32:
            raise SettingsError(f"{path} is too short to be a server secret") from None
        return value.encode("ascii")
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value.encode("ascii")
