"""One Settings object, built by the CLI or by the tests; never read at import time.

Every field can be set by an environment variable named ``SERIKA_<FIELD>`` (upper case) or
by the same name (lower case) in the TOML file named by ``SERIKA_CONFIG``. The environment
wins over the file; the file wins over the defaults.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "SERIKA_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told. Documented field by field in the README."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    redis_url: str = ""
    config: str = ""
    log_level: str = "info"
    access_log: bool = False
    max_body_bytes: int = 4 * 1024 * 1024
    max_keys_per_account: int = 50
    key_cache_size: int = 100_000
    activity_flush_seconds: float = 1.0
    session_ttl_seconds: int = 30 * 24 * 3600
    cookie_secure: str = "auto"
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_failure_window_seconds: int = 900
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    password_parallelism: int = 1
    demo_models: str = "auto"
    demo_word_delay_seconds: float = 0.02
    upstream_connect_timeout: float = 10.0
    upstream_read_timeout: float = 120.0
    upstream_total_timeout: float = 600.0
    upstream_max_connections: int = 256
    rate_window_seconds: int = 60
    free_requests_per_minute: int = 60
    free_tokens_per_minute: int = 40_000
    free_monthly_tokens: int = 1_000_000
    premium_requests_per_minute: int = 600
    premium_tokens_per_minute: int = 400_000
    premium_monthly_tokens: int = 0
    completion_estimate_tokens: int = 512
    admin_token: str = ""
    openrouter_api_key: str = ""
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openai_api_key: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    azure_api_key: str = ""
    azure_endpoint: str = ""
    azure_api_version: str = "2024-10-21"
    novelai_api_key: str = ""
    tensorart_api_key: str = ""
    # Images: providers, storage, the CDN's public address, asynchronous jobs.
    novelai_base_url: str = "https://image.novelai.net"
    tensorart_base_url: str = "https://ap-east-1.tensorart.cloud"
    public_url: str = ""
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_prefix: str = ""
    image_max_prompt_chars: int = 4000
    image_job_workers: int = 2
    image_job_poll_seconds: float = 1.0
    image_job_lease_seconds: float = 60.0
    image_job_max_attempts: int = 3
    demo_image_delay_seconds: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cookie_secure not in {"auto", "always", "never"}:
            raise SettingsError("cookie_secure must be one of auto, always, never")
        if self.demo_models not in {"auto", "on", "off"}:
            raise SettingsError("demo_models must be one of auto, on, off")
        if self.workers < 1:
            raise SettingsError("workers must be at least 1")
        if self.rate_window_seconds < 1:
            raise SettingsError("rate_window_seconds must be at least 1")
        if self.max_body_bytes < 1024:
            raise SettingsError("max_body_bytes must be at least 1024")
        _check_image_settings(self)

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: the configured one, or SQLite in the data dir."""
        url = self.database_url or f"sqlite:///{self.data_dir.resolve() / 'serika.db'}"
        return async_database_url(url)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls, environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
    ) -> Settings:
        """Defaults < the TOML file (``SERIKA_CONFIG``) < the environment < overrides."""
        values: dict[str, Any] = {}
        config_path = (overrides or {}).get("config") or environ.get(ENV_PREFIX + "CONFIG", "")
        extra: dict[str, Any] = {}
        if config_path:
            file_values = _read_toml(Path(config_path))
            for name, value in file_values.items():
                if name in _FIELD_TYPES and name != "extra":
                    values[name] = _coerce(name, value)
                else:
                    extra[name] = value
        for name in _FIELD_TYPES:
            env_name = ENV_PREFIX + name.upper()
            if env_name in environ and name != "extra":
                values[name] = _coerce(name, environ[env_name])
        for name, value in (overrides or {}).items():
            if value is not None:
                values[name] = _coerce(name, value)
        values["extra"] = extra
        return cls(**values)

    def documented_names(self) -> list[str]:
        """The environment variable names, as the README documents them."""
        return [ENV_PREFIX + f.name.upper() for f in fields(self) if f.name != "extra"]


def _check_image_settings(settings: Settings) -> None:
    if settings.image_job_workers < 0:
        raise SettingsError("image_job_workers must be 0 (no workers here) or more")
    if settings.image_job_max_attempts < 1:
        raise SettingsError("image_job_max_attempts must be at least 1")
    if settings.image_job_lease_seconds < 1 or settings.image_job_poll_seconds <= 0:
        raise SettingsError("image_job_lease_seconds must be >= 1 and the poll interval > 0")
    if settings.image_max_prompt_chars < 1:
        raise SettingsError("image_max_prompt_chars must be at least 1")


def async_database_url(url: str) -> str:
    """Map plain ``sqlite://`` and ``postgresql://`` URLs to their asyncio drivers."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
    return data


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


_FIELD_TYPES: Mapping[str, Any] = types.MappingProxyType(_field_types())

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, value: Any) -> Any:
    if name not in _FIELD_TYPES:
        raise SettingsError(f"unknown setting {name!r}")
    kind = _FIELD_TYPES[name]
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind is Path:
            return Path(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name} has an invalid value {value!r}") from exc
    return value
