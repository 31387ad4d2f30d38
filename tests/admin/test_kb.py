"""KB pages: search, view, edit with the loader's validation, history, bundles/centre, import/export."""

from __future__ import annotations

import io
import re
import zipfile

from hotline.models import AuditLog
from kb.store import current_revision, load_kb
from tests.admin.conftest import csrf_token

HOSTILE = "<script>alert(1)</script>"


def _edit_form(client, code: str) -> dict:
    """What a browser would submit unchanged: text inputs and textareas as shown, checkboxes only when ticked."""
    html = client.get(f"/kb/items/{code}/edit").get_data(as_text=True)
    data = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name is None or ('type="checkbox"' in tag and " checked" not in tag):
            continue
        data[name.group(1)] = (value.group(1) if value else "").replace("&#34;", '"').replace("&amp;", "&")
    for name, value in re.findall(r'<textarea[^>]*?name="([^"]+)"[^>]*>\r?\n?(.*?)</textarea>', html, re.S):
        data[name] = value
    return data


def test_search_by_alias_and_department(agent_client, kb_loaded):
    html = agent_client.get("/kb/?q=狗证").get_data(as_text=True)
    assert "GA-001" in html and "BDC-001" not in html
    html = agent_client.get("/kb/?dept=bdc").get_data(as_text=True)
    assert "BDC-001" in html and "GA-001" not in html
    assert "新增事项" not in html  # agents get no edit links


def test_edit_item_saves_audits_bumps_revision_and_shows_history(admin_client, kb_loaded, session):
    revision = current_revision(session)
    form = _edit_form(admin_client, "GA-001")
    form["location"] = "A区 99号窗口"
    form["aliases"] = form["aliases"] + "\n狗牌"
    resp = admin_client.post("/kb/items/GA-001/edit", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    session.expire_all()
    item = load_kb(session).item("GA-001")
    assert item.location == "A区 99号窗口" and "狗牌" in item.aliases
    assert current_revision(session) == revision + 1
    log = session.query(AuditLog).filter_by(action="kb_item_save", target="kb_item:GA-001").one()
    assert log.username == "boss" and log.after["location"] == "A区 99号窗口" and log.before["location"] != log.after["location"]
    page = admin_client.get("/kb/items/GA-001").get_data(as_text=True)
    assert "修改历史" in page and "A区 99号窗口" in page


def test_invalid_edit_is_refused_with_the_loader_message(admin_client, kb_loaded, session):
    form = _edit_form(admin_client, "GA-001")
    taken = load_kb(session).item("GA-002").aliases[0]
    form["aliases"] = taken
    html = admin_client.post("/kb/items/GA-001/edit", data=form).get_data(as_text=True)
    assert "already used by GA-002" in html
    session.expire_all()
    assert taken not in load_kb(session).item("GA-001").aliases


def test_yaml_editor_uses_the_same_validation_rules(admin_client, kb_loaded, session):
    page = admin_client.get("/kb/items/GA-001/yaml").get_data(as_text=True)
    token = csrf_token(admin_client, "/kb/items/GA-001/yaml")
    text = re.search(r"<textarea[^>]*>\r?\n?(.*?)</textarea>", page, re.S).group(1)
    import html as htmlmod

    text = htmlmod.unescape(text)
    bad = text.replace("target: 个人", "target: 外星人")
    resp = admin_client.post("/kb/items/GA-001/yaml", data={"csrf_token": token, "text": bad})
    assert "target" in resp.get_data(as_text=True) and resp.status_code == 200
    good = text.replace("name: 养犬登记证核发", "name: 养犬登记证核发（新）")
    assert admin_client.post("/kb/items/GA-001/yaml", data={"csrf_token": token, "text": good}).status_code == 302
    session.expire_all()
    assert load_kb(session).item("GA-001").name == "养犬登记证核发（新）"


def test_hostile_kb_text_is_escaped(admin_client, agent_client, kb_loaded):
    form = _edit_form(admin_client, "GA-001")
    form["location"] = HOSTILE
    assert admin_client.post("/kb/items/GA-001/edit", data=form).status_code == 302
    for client, path in ((agent_client, "/kb/items/GA-001"), (admin_client, "/kb/audit"),
                         (admin_client, "/kb/items/GA-001/edit")):
        html = client.get(path).get_data(as_text=True)
        assert HOSTILE not in html and ("&lt;script&gt;" in html or "\\u003cscript" in html), path


def test_centre_and_bundle_edits_are_validated_as_files(admin_client, kb_loaded, session):
    token = csrf_token(admin_client, "/kb/bundles")
    bad = "bundles:\n  - code: YJS-001\n    name: 测试\n    window: 窗口\n    items: [NO-999]\n"
    html = admin_client.post("/kb/bundles", data={"csrf_token": token, "text": bad}).get_data(as_text=True)
    assert "NO-999" in html and "does not exist" in html
    session.expire_all()
    assert load_kb(session).bundle("YJS-001") is None or load_kb(session).bundle("YJS-001").items != ["NO-999"]
    good = "bundles:\n  - code: YJS-900\n    name: 养狗一件事\n    aliases: [养狗全套]\n    window: A区 12号\n    items: [GA-001]\n    note: 一次办结\n"
    assert admin_client.post("/kb/bundles", data={"csrf_token": token, "text": good}).status_code == 302
    session.expire_all()
    assert load_kb(session).bundle("YJS-900").items == ["GA-001"]
    centre = "address: 测试路1号\nhours: 工作日 9:00-17:00\n"
    assert admin_client.post("/kb/centre", data={"csrf_token": token, "text": centre}).status_code == 302
    session.expire_all()
    assert load_kb(session).centre["address"] == "测试路1号"


def test_export_then_import_round_trips_and_bad_zip_is_refused(admin_client, kb_loaded, session):
    resp = admin_client.get("/kb/export.zip")
    names = zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    assert "centre.yaml" in names and "departments/gaj.yaml" in names
    token = csrf_token(admin_client, "/kb/import")
    ok = admin_client.post("/kb/import", data={"csrf_token": token, "archive": (io.BytesIO(resp.data), "kb.zip")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert "0 added, 0 updated, 0 removed" in ok.get_data(as_text=True)
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("departments/gaj.yaml", "department: {code: gaj}\nitems: []\n")
        zf.writestr("../evil.yaml", "x: 1")
    html = admin_client.post("/kb/import", data={"csrf_token": token, "archive": (io.BytesIO(broken.getvalue()), "kb.zip")},
                             content_type="multipart/form-data").get_data(as_text=True)
    assert "departments/gaj.yaml" in html
    session.expire_all()
    assert load_kb(session).item("GA-001") is not None


def test_department_edit(admin_client, kb_loaded, session):
    token = csrf_token(admin_client, "/kb/departments/gaj")
    resp = admin_client.post("/kb/departments/gaj", data={"csrf_token": token, "name": "某区公安分局",
                                                         "short_name": "公安", "phone": "0571-86909999"})
    assert resp.status_code == 302
    session.expire_all()
    assert load_kb(session).department("gaj").phone == "0571-86909999"
    assert session.query(AuditLog).filter_by(target="kb_department:gaj").count() == 1
