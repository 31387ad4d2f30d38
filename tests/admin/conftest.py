"""Admin-panel fixtures: a real app on a migrated database, users of both roles, a CSRF-aware logged-in client."""

from __future__ import annotations

import functools
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from admin import create_app
from hotline.config import Settings
from hotline.db import make_engine, make_sessionmaker, upgrade
from hotline.models import Call, CallTurn, User, utcnow

PASSWORD = "s3cret-pass"
@functools.cache
def _password_hash() -> str:
    user = User()
    user.set_password(PASSWORD)  # scrypt is deliberately slow: hash once per session
    return user.password_hash


_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Migrated SQLite files made once per session: empty, and with the sample KB imported."""
    from kb.loader import default_data_dir, load_dir
    from kb.store import import_kb

    root = tmp_path_factory.mktemp("admin-templates")
    empty, with_kb = root / "empty.db", root / "kb.db"
    upgrade(f"sqlite:///{empty}")
    engine = make_engine(f"sqlite:///{empty}")
    with engine.connect() as conn:  # fold the WAL into the main file so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    shutil.copy(empty, with_kb)
    engine = make_engine(f"sqlite:///{with_kb}")
    with make_sessionmaker(engine)() as s:
        import_kb(s, load_dir(default_data_dir()), "test")
        s.commit()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return {"empty": empty, "kb": with_kb}


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path, _templates: dict[str, Path]) -> str:
    """Overrides the shared fixture: a copy of a migrated template (tests that ask for ``kb_loaded`` get the
    sample KB too), which is much faster than migrating and importing for every test."""
    path = tmp_path / "hotline.db"
    shutil.copy(_templates["kb" if "kb_loaded" in request.fixturenames else "empty"], path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.effective_database_url)
    s = make_sessionmaker(engine)()
    yield s
    s.close()
    engine.dispose()


@pytest.fixture
def users(session: Session) -> dict[str, User]:
    made = {}
    for name, role, ext in (("boss", "admin", None), ("agent1", "agent", "PJSIP/agent1"), ("agent2", "agent", None)):
        user = User(username=name, role=role, extension=ext, display_name=name, password_hash=_password_hash())
        session.add(user)
        made[name] = user
    session.commit()
    return made


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)})


@pytest.fixture
def admin_client(app: Flask, users) -> FlaskClient:
    client = app.test_client()
    assert login(client, "boss").status_code == 302
    return client


@pytest.fixture
def agent_client(app: Flask, users) -> FlaskClient:
    client = app.test_client()
    assert login(client, "agent1").status_code == 302
    return client


CallFactory = Callable[..., Call]


@pytest.fixture
def make_call(session: Session) -> CallFactory:
    """Insert a finished call with caller/IVR turns; keyword overrides go to Call, ``turns`` to CallTurn."""

    def make(turns: list[dict] | None = None, **fields) -> Call:
        started = fields.pop("started_at", utcnow() - timedelta(minutes=5))
        call = Call(call_uuid=str(uuid.uuid4()), caller_number=fields.pop("caller_number", "13812345678"),
                    started_at=started, ended_at=fields.pop("ended_at", started + timedelta(seconds=90)),
                    outcome=fields.pop("outcome", "answered_by_ivr"), **fields)
        for seq, t in enumerate(turns or [], 1):
            call.turns.append(CallTurn(seq=seq, at=t.pop("at", started + timedelta(seconds=seq * 5)),
                                       speaker=t.pop("speaker", "caller"), **t))
        call.turn_count = len(call.turns)
        session.add(call)
        session.commit()
        return call

    return make


@pytest.fixture
def kb_loaded(settings: Settings) -> None:
    """The real sample KB (kb/data) in the test database (see ``sqlite_url``)."""


