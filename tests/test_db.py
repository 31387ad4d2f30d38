"""Migrations upgrade empty SQLite and real PostgreSQL databases; models round-trip on both."""

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text

from hotline.db import current_revision, head_revision, make_engine, make_sessionmaker, session_scope, upgrade
from hotline.models import Base, Call, CallEvent, CallTurn, User, utcnow
from hotline.outcomes import Outcome

pytestmark = pytest.mark.integration


def test_migrations_create_every_model_table(db_url):
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    engine.dispose()


def test_upgrade_is_idempotent(db_url):
    upgrade(db_url)  # second run: nothing to do, no error
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_models_round_trip(db_url):
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    started = utcnow()
    with session_scope(factory) as s:
        call = Call(call_uuid="0f8fad5b-d9cb-469f-a165-70867728950e", caller_number="13812345678",
                    dialled_number="86909000", channel="PJSIP/trunk-00000001", asterisk_uniqueid="1733.1",
                    started_at=started)
        call.turns.append(CallTurn(seq=1, speaker="caller", text="狗证要带什么", asr_confidence=0.82,
                                   item_code="GA-001", aspect="materials", latency_ms={"asr": 410, "total": 690}))
        call.events.append(CallEvent(source="ami", name="Hangup", data={"Cause": "16", "Cause-txt": "Normal"}))
        user = User(username="agent1", role="agent")
        user.set_password("correct horse")
        s.add_all([call, user])
    with session_scope(factory) as s:
        call = s.scalar(select(Call).where(Call.call_uuid == "0f8fad5b-d9cb-469f-a165-70867728950e"))
        assert call.outcome == Outcome.IN_PROGRESS
        assert call.turns[0].text == "狗证要带什么" and call.turns[0].latency_ms == {"asr": 410, "total": 690}
        assert call.events[0].data["Cause-txt"] == "Normal"
        assert abs(call.started_at - started) < timedelta(seconds=1)
        assert call.started_at.tzinfo is not None
        user = s.scalar(select(User).where(User.username == "agent1"))
        assert user.password_hash.startswith("scrypt:") and user.check_password("correct horse")
        assert not user.check_password("wrong")
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_busy_timeout(sqlite_url):
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_models_and_migrations_agree(db_url):
    """Autogenerate finds nothing to do: the migrations build exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
