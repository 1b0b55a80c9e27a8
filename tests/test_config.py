"""Settings: environment, TOML file, overrides, validation, and the README documents them all."""

from __future__ import annotations

from pathlib import Path

import pytest

from serika.config import Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text("utf-8")
    missing = [name for name in Settings().documented_names() if f"`{name}`" not in text]
    assert missing == []


def test_environment_overrides_file_and_overrides_win(tmp_path: Path) -> None:
    config = tmp_path / "serika.toml"
    config.write_text('port = 9000\nhost = "127.0.0.2"\nworkers = 3\n[[models]]\nid = "x/y"\n')
    settings = Settings.load(
        {"SERIKA_CONFIG": str(config), "SERIKA_PORT": "9100", "SERIKA_ACCESS_LOG": "yes"},
        {"workers": 2},
    )
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.2", 9100, 2)
    assert settings.access_log is True
    assert settings.extra["models"] == [{"id": "x/y"}]


def test_bad_values_are_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="port"):
        Settings.load({"SERIKA_PORT": "eighty"})
    with pytest.raises(SettingsError, match="cookie_secure"):
        Settings.load({"SERIKA_COOKIE_SECURE": "sometimes"})
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load({"SERIKA_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load({"SERIKA_CONFIG": str(broken)})


def test_database_urls_map_to_async_drivers(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_database_url == (
        f"sqlite+aiosqlite:///{tmp_path.resolve()}/serika.db"
    )
    pg = Settings(database_url="postgresql://u@h:5432/db").resolved_database_url
    assert pg == "postgresql+asyncpg://u@h:5432/db"
