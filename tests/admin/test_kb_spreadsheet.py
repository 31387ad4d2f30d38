"""The panel's 办事指南 spreadsheet upload/download and the issue-11 item flags in the edit form and bundle editor."""

from __future__ import annotations

import csv
import io

import openpyxl

from admin.forms import SPREADSHEET_MAX_BYTES
from hotline.models import AuditLog
from kb.store import current_revision, load_kb
from tests.admin.conftest import csrf_token
from tests.admin.test_kb import _edit_form


def _upload(client, data: bytes, filename: str, token: str | None = None):
    form = {"sheet": (io.BytesIO(data), filename)}
    if token is not None:
        form["csrf_token"] = token
    return client.post("/kb/import-sheet", data=form, content_type="multipart/form-data")


def test_agents_can_neither_download_nor_upload(agent_client, kb_loaded):
    for path in ("/kb/import-sheet", "/kb/export.xlsx", "/kb/export.csv"):
        assert agent_client.get(path).status_code == 403, path
    token = csrf_token(agent_client, "/kb/")
    assert _upload(agent_client, b"x", "kb.csv", token).status_code == 403


def test_download_then_upload_changes_nothing(admin_client, kb_loaded, session):
    revision = current_revision(session)
    resp = admin_client.get("/kb/export.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert {"事项", "部门", "一件事"} <= set(book.sheetnames)
    assert book["事项"].max_row - 1 == len(load_kb(session).items())
    token = csrf_token(admin_client, "/kb/import-sheet")
    done = _upload(admin_client, resp.data, "kb.xlsx", token)
    assert done.status_code == 302, done.get_data(as_text=True)
    page = admin_client.get(done.headers["Location"]).get_data(as_text=True)
    assert "0 added, 0 updated, 0 removed" in page
    session.expire_all()
    assert current_revision(session) == revision
    assert session.query(AuditLog).filter_by(action="kb_import_sheet").count() == 1


def test_a_broken_csv_lists_every_problem_and_imports_nothing(admin_client, kb_loaded, session):
    before, revision = load_kb(session), current_revision(session)
    text = admin_client.get("/kb/export.csv").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    head = table[0]
    table[1][head.index("办理地点")] = "新地址"  # a good change that must not be applied either
    table[2][head.index("承诺时限")] = "三天"
    table[3][head.index("申请材料")] = "身份证"
    table[4][head.index("实施机关")] = "<script>alert(1)</script>"
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    token = csrf_token(admin_client, "/kb/import-sheet")
    resp = _upload(admin_client, buf.getvalue().encode("utf-8"), "kb.csv", token)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "发现 3 个问题" in html
    rows = [tuple(cell.strip() for cell in row[:3]) for row in
            (r.split("</td><td>") for r in html.split('id="sheet-problems"')[1].split("<tr><td>")[1:])]
    assert rows == [("事项", "3", "承诺时限"), ("事项", "4", "申请材料"), ("事项", "5", "实施机关")]
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    session.expire_all()
    assert load_kb(session).items() == before.items() and current_revision(session) == revision


def test_upload_needs_csrf_a_spreadsheet_and_a_sane_size(admin_client, kb_loaded):
    good = admin_client.get("/kb/export.csv").data
    assert _upload(admin_client, good, "kb.csv").status_code == 400  # no CSRF token
    token = csrf_token(admin_client, "/kb/import-sheet")
    html = _upload(admin_client, good, "kb.exe", token).get_data(as_text=True)
    assert "只接受 xlsx 或 csv 文件" in html
    big = good + b"\n" * (SPREADSHEET_MAX_BYTES + 1 - len(good))
    html = _upload(admin_client, big, "kb.csv", token).get_data(as_text=True)
    assert "文件过大" in html
    html = _upload(admin_client, b"not a workbook", "kb.xlsx", token).get_data(as_text=True)
    assert "not an xlsx workbook" in html


def test_edit_form_sets_and_clears_the_new_flags(admin_client, kb_loaded, session):
    form = _edit_form(admin_client, "GA-001")
    form.update(citywide="y", door_to_door="y", sample_form="y", online_full="y")
    assert admin_client.post("/kb/items/GA-001/edit", data=form).status_code == 302
    session.expire_all()
    item = load_kb(session).item("GA-001")
    assert (item.citywide, item.door_to_door, item.sample_form, item.online.full) == (True, True, True, True)
    form = _edit_form(admin_client, "GA-001")  # the form shows them ticked
    assert {"citywide", "door_to_door", "sample_form", "online_full"} <= set(form)
    for flag in ("citywide", "online_full"):
        form.pop(flag)
    assert admin_client.post("/kb/items/GA-001/edit", data=form).status_code == 302
    session.expire_all()
    item = load_kb(session).item("GA-001")
    assert (item.citywide, item.door_to_door, item.sample_form, item.online.full) == (False, True, True, False)
    page = admin_client.get("/kb/items/GA-001").get_data(as_text=True)
    assert "全城通办 / 上门服务 / 样表下载" in page


def test_bundle_editor_keeps_the_kind(admin_client, kb_loaded, session):
    token = csrf_token(admin_client, "/kb/bundles")
    text = ("bundles:\n  - code: YJS-900\n    name: 养狗一件事\n    kind: 民生\n    aliases: [养狗全套]\n"
            "    window: A区 12号\n    items: [GA-001]\n    note: 一次办结\n")
    assert admin_client.post("/kb/bundles", data={"csrf_token": token, "text": text}).status_code == 302
    session.expire_all()
    assert load_kb(session).bundle("YJS-900").kind == "民生"
    assert "kind: 民生" in admin_client.get("/kb/bundles").get_data(as_text=True)
    bad = text.replace("kind: 民生", "kind: 生活")
    html = admin_client.post("/kb/bundles", data={"csrf_token": token, "text": bad}).get_data(as_text=True)
    assert "must be one of 商事, 不动产, 民生" in html
