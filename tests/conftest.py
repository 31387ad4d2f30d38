"""Shared fixtures: migrated SQLite files, a real PostgreSQL server, settings pointing at a temp var dir."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.config import Settings, load_settings
from hotline.db import upgrade
from scripts.pgserver import TemporaryPostgres

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TemporaryPostgres]:
    """One real PostgreSQL server per test session (Debian's postgresql package; missing = test error)."""
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: TemporaryPostgres) -> str:
    """A fresh, migrated database on the real PostgreSQL server."""
    url = pg_server.create_database(f"t{next(_db_counter)}")
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on both databases."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return load_settings(env={}, var_dir=str(tmp_path / "var"), database_url=sqlite_url)
