"""Migration 0009 (callback_tasks.audio_path) on SQLite and real PostgreSQL: the column appears, a voicemail path
the old call-voicemail left in the agent's note moves into it, a real note stays, and downgrade undoes it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from hotline.db import alembic_config, make_engine, upgrade

VM = "voicemail-0f8fad5b-d9cb-469f-a165-70867728950e"
_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def bare_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database migrated only up to 0008."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"m9_{next(_names)}")
    upgrade(url, "0008_kb_service_flags")
    return url


def _tasks(url: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("callback_tasks")}
            picked = "id, note" + (", audio_path" if "audio_path" in cols else "")
            return [tuple(r) for r in conn.execute(text(f"SELECT {picked} FROM callback_tasks ORDER BY id"))]
    finally:
        engine.dispose()


def test_0009_moves_old_voicemail_notes_into_audio_path_and_back(bare_url: str) -> None:
    from alembic import command

    engine = make_engine(bare_url)
    with engine.begin() as conn:
        for note in (f"/var/spool/asterisk/hotline/{VM}", "客户要求下午回电", f"见 /tmp/{VM} 的说明"):
            conn.execute(text("INSERT INTO callback_tasks (number, status, created_at, note) "
                              "VALUES ('13800000000', 'open', CURRENT_TIMESTAMP, :note)"), {"note": note})
    engine.dispose()
    upgrade(bare_url)
    assert _tasks(bare_url) == [(1, None, f"{VM}.wav"), (2, "客户要求下午回电", None),
                                (3, f"见 /tmp/{VM} 的说明", None)]  # free text that mentions a path is not moved
    command.downgrade(alembic_config(bare_url), "0008_kb_service_flags")
    assert _tasks(bare_url) == [(1, None), (2, "客户要求下午回电"), (3, f"见 /tmp/{VM} 的说明")]
    upgrade(bare_url)
    assert _tasks(bare_url)[1] == (2, "客户要求下午回电", None)
