"""One SQLAlchemy session per request, opened lazily and closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.db import make_sessionmaker


def init_db(app: Flask, engine: Engine) -> None:
    app.extensions["hotline_engine"] = engine
    app.extensions["hotline_sessions"] = make_sessionmaker(engine)
    app.teardown_appcontext(_close_session)


def db() -> Session:
    """The request's session; views commit explicitly after a change."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["hotline_sessions"]
        g.db_session = factory()
    return g.db_session


def engine() -> Engine:
    return current_app.extensions["hotline_engine"]


def _close_session(exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        if exc is not None:
            session.rollback()
        session.close()
