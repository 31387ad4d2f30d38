"""Panel users managed by admins: list, create (typed or generated password), phone extension, deactivate.

Every change is one audit row (passwords never enter the log). An admin cannot deactivate themself, so the
panel always keeps at least the admin who is making the change.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.services import audit
from hotline.errors import HotlineError
from hotline.models import Role, User

MIN_PASSWORD = 8
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
EXTENSION = re.compile(r"^[A-Za-z0-9]{2,8}/[A-Za-z0-9_.-]{1,40}$")  # a dialable Asterisk interface, e.g. PJSIP/agent1


class UserAdminError(HotlineError):
    """A user change that is not allowed (duplicate name, weak password, self-deactivation...)."""


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.active.desc(), User.role, User.username)))


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def create_user(session: Session, *, username: str, role: str, display_name: str, extension: str,
                password: str, by: str) -> tuple[User, str]:
    """Create a user; an empty ``password`` means generate one. Returns the user and the password to show once."""
    if not USERNAME.match(username):
        raise UserAdminError("用户名只能包含字母、数字、下划线、点和横线（2-64 位）")
    if role not in {r.value for r in Role}:
        raise UserAdminError(f"无效的角色：{role}")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserAdminError(f"用户名 {username} 已存在")
    password = password or generate_password()
    if len(password) < MIN_PASSWORD:
        raise UserAdminError(f"密码至少 {MIN_PASSWORD} 位")
    extension = _checked_extension(extension)
    user = User(username=username, role=role, display_name=display_name or None, extension=extension, active=True)
    user.set_password(password)
    session.add(user)
    audit.record(session, by, "user_create", f"user:{username}", None,
                 {"role": role, "display_name": display_name, "extension": extension})
    return user, password


def _checked_extension(extension: str) -> str | None:
    extension = extension.strip()
    if extension and not EXTENSION.match(extension):
        raise UserAdminError("分机格式应为 技术/名称，如 PJSIP/agent1")
    return extension or None


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserAdminError("用户不存在")
    return user


def set_extension(session: Session, user_id: int, extension: str, by: str) -> User:
    user = _get(session, user_id)
    before = user.extension
    user.extension = _checked_extension(extension)
    audit.record(session, by, "user_extension", f"user:{user.username}", {"extension": before},
                 {"extension": user.extension})
    return user


def set_active(session: Session, user_id: int, active: bool, by: str) -> User:
    user = _get(session, user_id)
    if not active and user.username == by:
        raise UserAdminError("不能停用自己的账号")
    before = user.active
    user.active = active
    audit.record(session, by, "user_activate" if active else "user_deactivate", f"user:{user.username}",
                 {"active": before}, {"active": active})
    return user
