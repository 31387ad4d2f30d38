"""Agent console: the live waiting queue (polled as JSON by static/agent.js) and callback tasks."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ANY_ROLE, require_roles, sees_full_numbers
from admin.database import db
from admin.forms import CallbackForm
from admin.services import agent_console as svc

bp = Blueprint("agent", __name__, url_prefix="/agent")
require_roles(bp, ANY_ROLE)


def _waiting() -> list[svc.WaitingCaller]:
    return svc.waiting_callers(db(), username=current_user.username, extension=current_user.extension,
                               full_numbers=sees_full_numbers())


@bp.get("/")
def console() -> str:
    return render_template("agent/console.html", waiting=_waiting(), callbacks=svc.callbacks(db()),
                           form=CallbackForm())


@bp.get("/queue.json")
def queue_json() -> Response:
    return jsonify(callers=[w.to_json_dict() for w in _waiting()], open_callbacks=len(svc.callbacks(db())))


@bp.post("/callbacks/<int:task_id>")
def mark_callback(task_id: int) -> Response:
    form = CallbackForm()
    if not form.validate_on_submit():
        flash("提交内容有误，请重试。", "error")
        return redirect(url_for("agent.console"))
    try:
        svc.mark_callback(db(), task_id, form.status.data, (form.note.data or "").strip(), current_user.username)
        db().commit()
        flash("已记录回电结果。", "ok")
    except svc.CallbackError as exc:
        db().rollback()
        flash(str(exc), "error")
    return redirect(url_for("agent.console"))
