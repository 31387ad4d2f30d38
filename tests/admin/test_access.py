"""Login, roles, CSRF, rate limiting, cookies and the secret key: the rules every page relies on."""

from __future__ import annotations

import os
import stat

import pytest

from admin import create_app
from tests.admin.conftest import PASSWORD, csrf_token, login

# The web caller page is public by design (issue 13): it hands out only the guest endpoint that dials 86909000.
PUBLIC = {"auth.login", "static", "ops.healthz", "ops.metrics", "webcall.page", "webcall.start",
          "webcall.transcript_events"}
ADMIN_ONLY_GET = [
    "/dashboard/", "/quality/", "/quality/ask", "/kb/items/new", "/kb/bundles", "/kb/centre", "/kb/import",
    "/kb/export.zip", "/kb/audit",
]


def _sample_url(rule) -> str:
    values = {arg: ("GA-001" if arg == "code" else "cancel" if arg == "action" else "1") for arg in rule.arguments}
    url = rule.rule
    for arg, value in values.items():
        url = url.replace(f"<int:{arg}>", value).replace(f"<{arg}>", value)
    return url


def test_every_view_but_login_health_and_metrics_sends_anonymous_to_login(app):
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint == "index":
            continue
        for method in rule.methods & {"GET", "POST"}:
            resp = client.open(_sample_url(rule), method=method)
            # POSTs without a token stop at CSRF (400) before anything else; GETs redirect to the login page.
            if method == "POST":
                assert resp.status_code in (302, 400), rule.rule
            else:
                assert resp.status_code == 302 and "/login" in resp.headers["Location"], rule.rule
            checked += 1
    assert checked > 25


@pytest.mark.parametrize("path", ADMIN_ONLY_GET + ["/kb/items/GA-001/edit", "/kb/items/GA-001/yaml"])
def test_agents_get_403_on_admin_pages(agent_client, kb_loaded, path):
    assert agent_client.get(path).status_code == 403


def test_agent_cannot_post_kb_changes_even_with_a_valid_token(agent_client, kb_loaded):
    token = csrf_token(agent_client, "/kb/")
    resp = agent_client.post("/kb/items/GA-001/edit", data={"csrf_token": token, "name": "篡改"})
    assert resp.status_code == 403


@pytest.mark.parametrize("path", ["/calls/", "/kb/", "/agent/", "/bookings/", "/kb/items/GA-001"])
def test_agents_may_read_their_pages(agent_client, kb_loaded, path):
    assert agent_client.get(path).status_code == 200


def test_wrong_password_is_refused_and_right_one_lets_in(app, users):
    client = app.test_client()
    resp = login(client, "boss", "wrong-password")
    assert resp.status_code == 200 and "用户名或密码错误" in resp.get_data(as_text=True)
    assert client.get("/calls/").status_code == 302
    assert login(client, "boss").status_code == 302
    assert client.get("/calls/").status_code == 200


def test_inactive_user_cannot_log_in(app, users, session):
    users["agent2"].active = False
    session.commit()
    assert login(app.test_client(), "agent2").status_code == 200


def test_login_without_csrf_token_is_rejected(app, users):
    client = app.test_client()
    resp = client.post("/login", data={"username": "boss", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/calls/").status_code == 302


def test_logout_needs_post_with_token(admin_client):
    assert admin_client.get("/logout").status_code == 405
    assert admin_client.post("/logout").status_code == 400
    token = csrf_token(admin_client, "/calls/")
    assert admin_client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert admin_client.get("/calls/").status_code == 302


def test_login_rate_limit_per_ip_and_user(app, users):
    client = app.test_client()
    for _ in range(5):
        assert login(client, "boss", "bad-guess").status_code == 200
    blocked = login(client, "boss")  # even the right password: blocked for the window
    assert blocked.status_code == 429
    assert "次数过多" in blocked.get_data(as_text=True)
    assert login(client, "agent1").status_code == 302  # another user from the same IP is not blocked


def test_next_parameter_cannot_redirect_off_site(app, users):
    client = app.test_client()
    token = csrf_token(client)
    for target, expected in (("//evil.example/x", "/"), ("https://evil.example", "/"), ("/kb/", "/kb/")):
        resp = client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token,
                                           "next": target})
        assert resp.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": csrf_token(client, "/calls/")})
        token = csrf_token(client)


def test_session_cookie_is_httponly_and_samesite_lax(app, users):
    client = app.test_client()
    resp = login(client, "boss")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("hotline_admin="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_flag_is_configurable(settings, users):
    import dataclasses

    patched = dataclasses.replace(settings)  # the app reads admin_secure_cookies with getattr (not in Settings yet)
    object.__setattr__(patched, "admin_secure_cookies", True)
    client = create_app(patched).test_client()
    resp = login(client, "boss")
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("hotline_admin="))
    assert "Secure" in cookie


def test_secret_key_generated_once_with_mode_0600(settings):
    first = create_app(settings).secret_key
    path = settings.var_dir / "secret_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert create_app(settings).secret_key == first and len(first) >= 32


def test_security_headers_forbid_inline_scripts_and_framing(admin_client):
    resp = admin_client.get("/calls/")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_login_is_audited(app, users, session):
    from hotline.models import AuditLog

    login(app.test_client(), "boss")
    assert session.query(AuditLog).filter_by(action="login", username="boss").count() == 1
