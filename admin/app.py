"""The panel's app factory: settings, database, login, CSRF, security headers and one blueprint per page group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import Engine
from werkzeug.wrappers import Response

from admin.access import init_access
from admin.database import init_db
from admin.secret_key import load_secret_key
from admin.services.ask import init_ask
from admin.services.calls import OUTCOME_LABELS
from admin.services.localtime import fmt
from admin.services.login_limit import LoginLimiter
from hotline.config import Settings, load_settings
from hotline.db import make_engine

csrf = CSRFProtect()

# Everything is served by the panel itself (no CDN); inline scripts and styles are not allowed.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    secure = settings.admin_secure_cookies
    app.config.update(
        SECRET_KEY=load_secret_key(settings),
        SESSION_COOKIE_NAME="hotline_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Agents keep the console open for a whole shift; the token is bound to the session instead of a clock.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
    )
    app.json.ensure_ascii = False  # Chinese in JSON and |tojson stays readable (still HTML-safe)
    app.extensions["hotline_settings"] = settings
    app.extensions["login_limiter"] = LoginLimiter()
    init_db(app, engine or make_engine(settings.effective_database_url))
    init_ask(app)
    init_access(app)
    csrf.init_app(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_handlers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from admin.views import agent, auth, bookings, calls, dashboard, kb, labels, ops, quality, users, webcall

    for module in (auth, calls, quality, labels, kb, bookings, dashboard, agent, users, ops, webcall):
        app.register_blueprint(module.bp)
    csrf.exempt(ops.bp)  # /healthz and /metrics take no forms

    @app.get("/")
    def index() -> Response:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(url_for("dashboard.index" if current_user.is_admin else "agent.console"))


def _register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = fmt

    @app.template_filter("pct")
    def _pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    @app.template_filter("conf")
    def _conf(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"OUTCOME_LABELS": OUTCOME_LABELS}


def _register_handlers(app: Flask) -> None:
    @app.after_request
    def _security_headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", _CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_template("error.html", code=400, message="表单已失效，请刷新页面后重试。"), 400

    for code, message in ((400, "请求参数有误。"), (403, "您没有权限访问此页面。"), (404, "页面不存在。"),
                          (429, "尝试次数过多，请稍后再试。")):
        app.register_error_handler(code, _error_page(code, message))


def _error_page(code: int, message: str):
    def handler(exc: Exception) -> tuple[str, int]:
        detail = getattr(exc, "description", None)
        text = detail if isinstance(detail, str) and not detail.isascii() else message
        return render_template("error.html", code=code, message=text), code

    return handler
