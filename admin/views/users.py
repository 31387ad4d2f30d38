"""User management (admins only): list users, create agents/admins, set extensions, deactivate."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ADMIN, require_roles
from admin.database import db
from admin.forms import ActionForm, ExtensionForm, UserCreateForm
from admin.services import users_admin as svc

bp = Blueprint("users", __name__, url_prefix="/users")
require_roles(bp, (ADMIN,))


def _page(form: UserCreateForm, new_password: tuple[str, str] | None = None, status: int = 200):
    return render_template("users/index.html", users=svc.list_users(db()), form=form, ext_form=ExtensionForm(),
                           action=ActionForm(), new_password=new_password), status


@bp.get("/")
def index():
    return _page(UserCreateForm())


@bp.post("/")
def create():
    form = UserCreateForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        user, password = svc.create_user(
            db(), username=form.username.data.strip(), role=form.role.data, display_name=form.display_name.data or "",
            extension=form.extension.data or "", password=form.password.data or "", by=current_user.username)
        db().commit()
    except svc.UserAdminError as exc:
        db().rollback()
        flash(str(exc), "error")
        return _page(form, status=400)
    # Shown once on this response only: the password is not stored anywhere readable.
    flash(f"已创建用户 {user.username}。", "ok")
    return _page(UserCreateForm(formdata=None), (user.username, password) if not form.password.data else None)


@bp.post("/<int:user_id>/extension")
def extension(user_id: int) -> Response:
    form = ExtensionForm()
    if not form.validate_on_submit():
        abort(400)
    return _change(lambda: svc.set_extension(db(), user_id, form.extension.data or "", current_user.username),
                   "分机已更新。")


@bp.post("/<int:user_id>/deactivate")
def deactivate(user_id: int) -> Response:
    return _activation(user_id, False)


@bp.post("/<int:user_id>/activate")
def activate(user_id: int) -> Response:
    return _activation(user_id, True)


def _activation(user_id: int, active: bool) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    return _change(lambda: svc.set_active(db(), user_id, active, current_user.username),
                   "已启用账号。" if active else "已停用账号。")


def _change(apply: Callable[[], object], message: str) -> Response:
    try:
        apply()
        db().commit()
        flash(message, "ok")
    except svc.UserAdminError as exc:
        db().rollback()
        flash(str(exc), "error")
    return redirect(url_for("users.index"))
