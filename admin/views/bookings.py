"""Appointments: a day's bookings per window (everyone), cancel / attendance / capacity / calendar (admins)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ADMIN, ANY_ROLE, require_roles, roles_required, sees_full_numbers
from admin.database import db, engine
from admin.forms import ActionForm, CapacityForm, OverrideForm
from admin.services import bookings_admin as svc
from admin.services.localtime import today

bp = Blueprint("bookings", __name__, url_prefix="/bookings")
require_roles(bp, ANY_ROLE)
ACTIONS = ("cancel", "attended", "no_show")


def _store():
    return svc.store_for(engine(), current_app.extensions["hotline_settings"])


def _day(name: str, default: date) -> date:
    raw = request.args.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, "日期格式应为 YYYY-MM-DD。")


@bp.get("/")
def index() -> str:
    day = _day("day", today())
    window = request.args.get("window", "")[:120]
    store = _store()
    rules = store.rules(active_only=False)
    windows = sorted({r.window for r in rules})
    capacity = {r.window: r.capacity for r in rules}
    return render_template(
        "bookings/index.html", day=day, window=window, windows=windows, capacity=capacity,
        groups=svc.day_view(store, day, window, sees_full_numbers()), action=ActionForm(),
        capacity_form=CapacityForm(), override_form=OverrideForm(),
        warnings=svc.calendar_warnings(store, today()), prev_day=day - timedelta(days=1), next_day=day + timedelta(days=1),
    )


@bp.post("/<code>/<action>")
@roles_required(ADMIN)
def change(code: str, action: str) -> Response:
    if action not in ACTIONS or not ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.change(_store(), db(), code, action, current_user.username)
        db().commit()
        flash("已更新预约状态。", "ok")
    except svc.BookingAdminError as exc:
        flash(str(exc), "error")
    return redirect(request.referrer if (request.referrer or "").startswith(request.host_url) else url_for("bookings.index"))


@bp.post("/capacity")
@roles_required(ADMIN)
def capacity() -> Response:
    form = CapacityForm()
    if not form.validate_on_submit():
        abort(400, "名额应为 0-100 的整数。")
    try:
        svc.set_capacity(_store(), db(), form.window.data, form.capacity.data, current_user.username)
        db().commit()
        flash("名额已更新。", "ok")
    except svc.BookingAdminError as exc:
        flash(str(exc), "error")
    return redirect(url_for("bookings.index"))


@bp.get("/calendar")
@roles_required(ADMIN)
def calendar() -> str:
    store = _store()
    overrides = sorted(store.overrides().items())
    return render_template("bookings/calendar.html", overrides=overrides, override_form=OverrideForm(),
                           remove_form=ActionForm(), warnings=svc.calendar_warnings(store, today()))


@bp.post("/calendar/<day>/remove")
@roles_required(ADMIN)
def calendar_remove(day: str) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.remove_override(_store(), db(), date.fromisoformat(day), current_user.username)
        db().commit()
        flash("已删除节假日设置。", "ok")
    except ValueError:
        abort(400, "日期格式应为 YYYY-MM-DD。")
    except svc.BookingAdminError as exc:
        flash(str(exc), "error")
    return redirect(url_for("bookings.calendar"))


@bp.post("/calendar")
@roles_required(ADMIN)
def calendar_override() -> Response:
    form = OverrideForm()
    if not form.validate_on_submit():
        abort(400, "日期格式有误。")
    svc.set_override(_store(), db(), form.day.data, form.is_workday.data == "1", form.note.data or "",
                     current_user.username)
    db().commit()
    flash("已保存节假日设置。", "ok")
    return redirect(url_for("bookings.calendar"))


@bp.get("/export.csv")
def export() -> Response:
    first = _day("from", today())
    last = _day("to", first + timedelta(days=30))
    if last < first or (last - first).days > 366:
        abort(400, "日期范围无效。")
    body = svc.export_csv(_store(), first, last, sees_full_numbers())
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=bookings.csv"})
