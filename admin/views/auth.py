"""Login and logout, with per-IP/user rate limiting."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin.access import PanelUser
from admin.database import db
from admin.forms import ActionForm, LoginForm
from admin.services import audit
from hotline.models import User, utcnow

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: "//evil.example" and "https://..." would be open redirects. Browsers drop tabs and
    # newlines from URLs ("/\t/evil.example" is "//evil.example") and a newline cannot go into a header at all.
    if not target or any(c.isspace() or not c.isprintable() or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        limiter = current_app.extensions["login_limiter"]
        ip = request.remote_addr or "-"
        name = form.username.data.strip()
        if limiter.blocked(ip, name):
            abort(429, "登录失败次数过多，请 15 分钟后再试。")
        user = db().scalar(select(User).where(User.username == name))
        if user is None or not user.active or not user.check_password(form.password.data):
            limiter.failed(ip, name)
            flash("用户名或密码错误。", "error")
            return render_template("login.html", form=form), 200
        limiter.succeeded(ip, name)
        user.last_login_at = utcnow()
        audit.record(db(), user.username, "login", f"user:{user.username}")
        db().commit()
        session.clear()  # a fresh session on login: no fixation of a pre-login session id
        login_user(PanelUser.from_model(user))
        return redirect(_safe_next(form.next.data) or url_for("index"))
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
