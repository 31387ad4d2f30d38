"""Who is logged in and what they may see: Flask-Login wiring and role checks.

Every blueprint calls ``require_roles`` in its ``before_request``, so no view can forget its check; views that
need a stricter role than their blueprint add ``@roles_required``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort
from flask_login import LoginManager, current_user
from sqlalchemy import select

from admin.database import db
from hotline.models import Role, User

F = TypeVar("F", bound=Callable[..., Any])
ADMIN = Role.ADMIN.value
AGENT = Role.AGENT.value
ANY_ROLE = (ADMIN, AGENT)

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录。"
login_manager.session_protection = "basic"


@dataclass(frozen=True)
class PanelUser:
    """The logged-in user as the views see it: a plain value, never a live ORM object."""

    id: int
    username: str
    role: str
    display_name: str
    extension: str | None

    is_authenticated = True
    is_active = True
    is_anonymous = False

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def from_model(cls, user: User) -> PanelUser:
        return cls(user.id, user.username, user.role, user.display_name or user.username, user.extension)


@login_manager.user_loader
def _load_user(user_id: str) -> PanelUser | None:
    if not user_id.isdigit():
        return None
    user = db().scalar(select(User).where(User.id == int(user_id), User.active.is_(True)))
    return PanelUser.from_model(user) if user else None


def init_access(app: Flask) -> None:
    login_manager.init_app(app)


def require_roles(bp: Blueprint, roles: tuple[str, ...]) -> None:
    """Guard every view of ``bp``: anonymous users go to the login page, other roles get 403."""

    @bp.before_request
    def _check() -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role not in roles:
            abort(403)
        return None


def roles_required(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def sees_full_numbers() -> bool:
    return bool(current_user.is_authenticated and current_user.role == ADMIN)
