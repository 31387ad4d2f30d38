"""Operations dashboard (admins): rates, volumes, top items and questions, confidence and latency."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from admin.access import ADMIN, require_roles
from admin.database import db, engine
from admin.forms import DateRangeForm
from admin.services import bookings_admin
from admin.services.charts import bar_chart
from admin.services.dashboard import build_dashboard
from admin.services.localtime import today

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
require_roles(bp, (ADMIN,))
MAX_DAYS = 366


@bp.get("/")
def index() -> str:
    form = DateRangeForm(formdata=MultiDict(request.args))
    if request.args and not form.validate():
        abort(400, "日期格式有误。")
    last = form.date_to.data or today()
    first = form.date_from.data or last - timedelta(days=6)
    if first > last or (last - first).days >= MAX_DAYS:
        abort(400, "日期范围无效（最多一年）。")
    form.date_from.data, form.date_to.data = first, last
    d = build_dashboard(db(), first, last)
    charts = {
        "per_day": bar_chart("每日来电量", [k for k, _ in d.per_day], [v for _, v in d.per_day]),
        "per_hour": bar_chart("各时段来电量", [k for k, _ in d.per_hour], [v for _, v in d.per_hour]),
        "confidence": bar_chart("识别置信度分布", [k for k, _ in d.confidence], [v for _, v in d.confidence],
                                width=400),
    }
    store = bookings_admin.store_for(engine(), current_app.extensions["hotline_settings"])
    return render_template("dashboard/index.html", form=form, d=d, charts=charts,
                           calendar_warnings=bookings_admin.calendar_warnings(store, today()))
