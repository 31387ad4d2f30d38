"""Knowledge base: browse and search for everyone; edit, import and export for admins; audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ADMIN, ANY_ROLE, require_roles, roles_required
from admin.database import db
from admin.forms import (
    SPREADSHEET_MAX_BYTES,
    DepartmentForm,
    ImportForm,
    ItemForm,
    SpreadsheetForm,
    YamlForm,
    choices,
)
from admin.services import audit
from admin.services import kb_admin as svc

bp = Blueprint("kb", __name__, url_prefix="/kb")
require_roles(bp, ANY_ROLE)  # agents read the KB to answer callers; every change below is admin-only


@bp.get("/")
def index() -> str:
    query = request.args.get("q", "").strip()[:80]
    dept = request.args.get("dept", "").strip()[:32]
    return render_template("kb/index.html", rows=svc.search_items(db(), query, dept), q=query, dept=dept,
                           departments=svc.departments(db()))


@bp.get("/items/<code>")
def item(code: str) -> str:
    try:
        data, dept = svc.item_dict(db(), code)
    except svc.KBEditError:
        abort(404)
    history = svc.item_history(db(), code) if current_user.is_admin else []
    return render_template("kb/item.html", item=data, dept=dept, history=history)


def _fail(exc: svc.KBEditError) -> None:
    db().rollback()
    for problem in exc.problems:
        flash(problem, "error")


@bp.route("/items/<code>/edit", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit_item(code: str) -> str | Response:
    try:
        data, _dept = svc.item_dict(db(), code)
    except svc.KBEditError:
        abort(404)
    form = ItemForm()
    if form.validate_on_submit():
        try:
            svc.save_item_form(db(), code, form.data, current_user.username)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash("已保存，语音助手将在下一通来电时使用新内容。", "ok")
            return redirect(url_for("kb.item", code=code))
    elif request.method == "GET":
        form.process(data={
            **{k: data[k] for k in ("name", "location", "hours", "phone", "legal_days", "promised_days",
                                    *svc.ITEM_FLAGS)},
            "aliases": "\n".join(data["aliases"]), "conditions": "\n".join(data["conditions"]),
            "steps": "\n".join(data["process"]), "fee_charged": data["fee"]["charged"],
            "fee_standard": data["fee"]["standard"], "online_full": data["online"]["full"],
        })
    return render_template("kb/edit_item.html", form=form, code=code)


@bp.route("/items/<code>/yaml", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit_item_yaml(code: str) -> str | Response:
    form = YamlForm()
    form.department.choices = []
    if form.validate_on_submit():
        try:
            svc.save_item_yaml(db(), form.text.data, current_user.username, code=code, department=None)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash("已保存。", "ok")
            return redirect(url_for("kb.item", code=code))
    elif request.method == "GET":
        try:
            form.text.data = svc.item_yaml(db(), code)
        except svc.KBEditError:
            abort(404)
    return render_template("kb/yaml.html", form=form, title=f"编辑事项 {code}（完整 YAML）", new=False)


@bp.route("/items/new", methods=["GET", "POST"])
@roles_required(ADMIN)
def new_item() -> str | Response:
    form = YamlForm()
    form.department.choices = choices((d.code, d.name) for d in svc.departments(db()))
    if form.validate_on_submit():
        try:
            code = svc.save_item_yaml(db(), form.text.data, current_user.username, code=None,
                                      department=form.department.data)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash("已新增事项。", "ok")
            return redirect(url_for("kb.item", code=code))
    return render_template("kb/yaml.html", form=form, title="新增事项（YAML）", new=True)


@bp.route("/departments/<code>", methods=["GET", "POST"])
@roles_required(ADMIN)
def edit_department(code: str) -> str | Response:
    dept = next((d for d in svc.departments(db()) if d.code == code), None)
    if dept is None:
        abort(404)
    form = DepartmentForm(obj=dept)
    if form.validate_on_submit():
        try:
            svc.save_department(db(), code, form.name.data, form.short_name.data, form.phone.data or "",
                                current_user.username)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash("部门信息已保存。", "ok")
            return redirect(url_for("kb.index", dept=code))
    return render_template("kb/department.html", form=form, code=code)


def _yaml_page(load, save, title: str) -> str | Response:
    form = YamlForm()
    form.department.choices = []
    if form.validate_on_submit():
        try:
            save(db(), form.text.data, current_user.username)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash("已保存。", "ok")
            return redirect(url_for("kb.index"))
    elif request.method == "GET":
        form.text.data = load(db())
    return render_template("kb/yaml.html", form=form, title=title, new=False)


@bp.route("/bundles", methods=["GET", "POST"])
@roles_required(ADMIN)
def bundles() -> str | Response:
    return _yaml_page(svc.bundles_yaml, svc.save_bundles_yaml, "“一件事”套餐")


@bp.route("/centre", methods=["GET", "POST"])
@roles_required(ADMIN)
def centre() -> str | Response:
    return _yaml_page(svc.centre_yaml, svc.save_centre_yaml, "中心信息")


@bp.get("/export.zip")
@roles_required(ADMIN)
def export() -> Response:
    return Response(svc.export_zip(db()), mimetype="application/zip",
                    headers={"Content-Disposition": "attachment; filename=kb.zip"})


@bp.route("/import", methods=["GET", "POST"])
@roles_required(ADMIN)
def import_kb() -> str | Response:
    form = ImportForm()
    if form.validate_on_submit():
        try:
            report = svc.import_zip(db(), form.archive.data.read(), current_user.username)
            db().commit()
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash(f"导入完成：{report}", "ok")
            return redirect(url_for("kb.index"))
    return render_template("kb/import.html", form=form)


_SHEET_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "csv": "text/csv; charset=utf-8"}


@bp.get("/export.<fmt>")
@roles_required(ADMIN)
def export_sheet(fmt: str) -> Response:
    if fmt not in _SHEET_TYPES:
        abort(404)
    return Response(svc.export_spreadsheet(db(), fmt), mimetype=_SHEET_TYPES[fmt],
                    headers={"Content-Disposition": f"attachment; filename=kb.{fmt}"})


@bp.route("/import-sheet", methods=["GET", "POST"])
@roles_required(ADMIN)
def import_sheet() -> str | Response:
    """Upload a 办事指南 spreadsheet: every problem is listed by sheet, row and column, and nothing is imported."""
    form = SpreadsheetForm()
    problems = []
    if form.validate_on_submit():
        upload = form.sheet.data
        fmt = upload.filename.rsplit(".", 1)[-1].lower()
        try:
            report = svc.import_sheet(db(), upload.read(SPREADSHEET_MAX_BYTES + 1), fmt, current_user.username,
                                      SPREADSHEET_MAX_BYTES)
            db().commit()
        except svc.SpreadsheetRejected as exc:
            db().rollback()
            problems = exc.problems
        except svc.KBEditError as exc:
            _fail(exc)
        else:
            flash(f"导入完成：{report}", "ok")
            return redirect(url_for("kb.index"))
    return render_template("kb/import_sheet.html", form=form, problems=problems)


@bp.get("/audit")
@roles_required(ADMIN)
def audit_log() -> str:
    return render_template("kb/audit.html", rows=audit.recent(db()))
