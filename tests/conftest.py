"""Fixtures: a fresh migrated database per test on every backend, settings, an app client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from serika.app import create_app
from serika.config import Settings
from tests.support.databases import DatabaseFactory, backends


@pytest.fixture(scope="session", params=backends())
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    yield factory
    factory.cleanup()


@pytest.fixture
def database_url(database_factory: DatabaseFactory, tmp_path: Path) -> str:
    return database_factory.new(tmp_path / "db")


def fast_settings(data_dir: Path, database_url: str, **changes: object) -> Settings:
    """Real settings, with cheaper password hashing so a test can register many users."""
    base = Settings(
        data_dir=data_dir,
        database_url=database_url,
        password_time_cost=1,
        password_memory_kib=1024,
        activity_flush_seconds=0.05,
        demo_word_delay_seconds=0.0,
    )
    return base.replace(**changes)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fast_settings(tmp_path / "data", database_url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        yield test_client
