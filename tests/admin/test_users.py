"""User management: admins list/create/change users with CSRF and an audit row; agents get 403."""

from __future__ import annotations

import pytest

from hotline.models import AuditLog, User
from tests.admin.conftest import csrf_token, login


def _user(session, name: str) -> User:
    session.expire_all()
    return session.query(User).filter_by(username=name).one()


def test_agents_get_403_and_anonymous_users_go_to_login(agent_client, app):
    assert agent_client.get("/users/").status_code == 403
    assert agent_client.post("/users/", data={"username": "x"}).status_code in (400, 403)
    resp = app.test_client().get("/users/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_admin_creates_agent_with_generated_password_shown_once(admin_client, app, session):
    token = csrf_token(admin_client, "/users/")
    resp = admin_client.post("/users/", data={"csrf_token": token, "username": "agent7", "display_name": "小王",
                                              "role": "agent", "extension": "PJSIP/agent7", "password": ""})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    password = html.split('id="new-password"')[1].split("<code>")[1].split("</code>")[0]
    assert len(password) >= 12
    user = _user(session, "agent7")
    assert (user.role, user.extension, user.display_name, user.active) == ("agent", "PJSIP/agent7", "小王", True)
    assert password not in admin_client.get("/users/").get_data(as_text=True)
    assert login(app.test_client(), "agent7", password).status_code == 302
    row = session.query(AuditLog).filter_by(action="user_create").one()
    assert row.target == "user:agent7" and password not in str(row.after)


def test_typed_password_duplicate_name_and_bad_input_are_refused(admin_client, app, session):
    token = csrf_token(admin_client, "/users/")
    ok = admin_client.post("/users/", data={"csrf_token": token, "username": "chief", "role": "admin",
                                            "password": "typed-pass-1"})
    assert ok.status_code == 200 and 'id="new-password"' not in ok.get_data(as_text=True)
    assert login(app.test_client(), "chief", "typed-pass-1").status_code == 302
    for data in ({"username": "chief", "role": "agent"},  # duplicate
                 {"username": "a b<script>", "role": "agent"},  # bad characters
                 {"username": "shorty", "role": "agent", "password": "short"},
                 {"username": "ext", "role": "agent", "extension": "agent1; rm"},
                 {"username": "root", "role": "superuser"}):
        resp = admin_client.post("/users/", data={"csrf_token": token, **data})
        assert resp.status_code == 400, data
        assert "<script>" not in resp.get_data(as_text=True)
    assert session.query(User).count() == 4  # boss, agent1, agent2, chief


def test_post_without_csrf_token_is_refused(admin_client, users, session):
    assert admin_client.post("/users/", data={"username": "sneaky", "role": "admin",
                                              "password": "password-1"}).status_code == 400
    target = users["agent2"].id
    assert admin_client.post(f"/users/{target}/deactivate").status_code == 400
    assert _user(session, "agent2").active is True and session.query(User).filter_by(username="sneaky").count() == 0


def test_set_extension_and_deactivate_with_audit(admin_client, app, users, session):
    target = users["agent2"].id
    token = csrf_token(admin_client, "/users/")
    assert admin_client.post(f"/users/{target}/extension",
                             data={"csrf_token": token, "extension": "PJSIP/agent2"}).status_code == 302
    assert _user(session, "agent2").extension == "PJSIP/agent2"
    assert admin_client.post(f"/users/{target}/extension",
                             data={"csrf_token": token, "extension": "not an extension"}).status_code == 302
    assert _user(session, "agent2").extension == "PJSIP/agent2"  # refused with a message, unchanged

    client = app.test_client()
    assert login(client, "agent2").status_code == 302
    assert admin_client.post(f"/users/{target}/deactivate", data={"csrf_token": token}).status_code == 302
    assert _user(session, "agent2").active is False
    assert client.get("/agent/").status_code == 302  # the live session ends with the account
    assert login(app.test_client(), "agent2").status_code != 302
    actions = [a.action for a in session.query(AuditLog).order_by(AuditLog.id) if a.action.startswith("user_")]
    assert actions == ["user_extension", "user_deactivate"]

    assert admin_client.post(f"/users/{target}/activate", data={"csrf_token": token}).status_code == 302
    assert _user(session, "agent2").active is True


@pytest.mark.parametrize("action", ["deactivate"])
def test_admin_cannot_deactivate_themself(admin_client, users, session, action):
    token = csrf_token(admin_client, "/users/")
    resp = admin_client.post(f"/users/{users['boss'].id}/{action}", data={"csrf_token": token},
                             follow_redirects=True)
    assert "不能停用自己的账号" in resp.get_data(as_text=True)
    assert _user(session, "boss").active is True
