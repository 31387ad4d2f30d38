"""Panel user management shared by the CLI and the admin panel."""

from __future__ import annotations

from sqlalchemy import select

from hotline.config import Settings
from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.errors import HotlineError
from hotline.models import Role, User


def create_user(settings: Settings, name: str, role: str, password: str, *, exist_ok: bool = False) -> bool:
    """Create a user; returns False when it existed and ``exist_ok`` kept it unchanged."""
    if role not in {r.value for r in Role}:
        raise HotlineError(f"role: invalid value {role!r}, accepted: admin, agent")
    if len(password) < 8:
        raise HotlineError("password: at least 8 characters")
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = session.scalar(select(User).where(User.username == name))
            if user is not None:
                if exist_ok:
                    return False
                raise HotlineError(f"user {name!r} already exists")
            user = User(username=name, role=role)
            user.set_password(password)
            session.add(user)
        return True
    finally:
        engine.dispose()
