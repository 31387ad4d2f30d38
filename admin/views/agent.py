"""Agent console: the live waiting queue (pushed by Server-Sent Events, polled JSON as the fallback), callback
tasks, and the browser softphone's server side (SIP credentials, queue state over AMI, screen-pop, callback)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ANY_ROLE, require_roles, sees_full_numbers
from admin.database import db
from admin.forms import CallbackForm
from admin.services import agent_console as svc
from admin.services import agent_phone
from admin.views.agent_events import csp_allowing, sse_response
from admin.views.audio import playable, send_stored
from hotline.models.calls import CallbackTask

bp = Blueprint("agent", __name__, url_prefix="/agent")
require_roles(bp, ANY_ROLE)

# Asterisk answers QueueAdd/QueuePause/QueueRemove with these; anything else is shown as Asterisk said it.
STATE_ACTIONS = ("login", "pause", "resume", "logout")
STATE_LABELS = {"login": "已上线，等待来电", "pause": "已暂停，不会分配来电", "resume": "已恢复接听",
                "logout": "已下线"}


def _settings():  # noqa: ANN202 - hotline Settings
    return current_app.extensions["hotline_settings"]


@bp.after_request
def _allow_asterisk_socket(resp: Response) -> Response:
    # The softphone opens a WebSocket to Asterisk, which the panel-wide CSP (connect-src 'self') would block.
    if _settings().webrtc_ws_url:
        resp.headers["Content-Security-Policy"] = csp_allowing(_settings().webrtc_ws_url)
    return resp


def _waiting() -> list[svc.WaitingCaller]:
    return svc.waiting_callers(db(), username=current_user.username, extension=current_user.extension,
                               full_numbers=sees_full_numbers())


@bp.get("/")
def console() -> str:
    callbacks = svc.callbacks(db())
    return render_template("agent/console.html", waiting=_waiting(), callbacks=callbacks,
                           playable={t.id for t in callbacks if playable(t.audio_path)},
                           form=CallbackForm(), phone_enabled=bool(_settings().webrtc_ws_url))


@bp.get("/callbacks/<int:task_id>/audio")
def callback_audio(task_id: int) -> Response:
    """The caller's voicemail of a callback task; 404 when there is none or it is not a file in recording_dir."""
    task = db().get(CallbackTask, task_id)
    return send_stored(task.audio_path if task is not None else None)


@bp.get("/queue.json")
def queue_json() -> Response:
    return jsonify(callers=[w.to_json_dict() for w in _waiting()], open_callbacks=len(svc.callbacks(db())))


@bp.get("/events")
def events() -> Response:
    """The same data as queue.json, pushed whenever it changes."""
    username, extension, full = current_user.username, current_user.extension, sees_full_numbers()

    def snapshot(session) -> dict:  # noqa: ANN001
        callers = svc.waiting_callers(session, username=username, extension=extension, full_numbers=full)
        return {"callers": [w.to_json_dict() for w in callers], "open_callbacks": len(svc.callbacks(session))}

    return sse_response(snapshot)


@bp.get("/phone.json")
def phone_json() -> Response:
    s = _settings()
    if not (s.webrtc_ws_url and s.webrtc_secret):
        return jsonify(error="浏览器话机未配置（HOTLINE_WEBRTC_WS_URL / HOTLINE_WEBRTC_SECRET）。"), 503
    try:
        cfg = agent_phone.agent_config(s.webrtc_ws_url, s.webrtc_secret, current_user.username)
    except agent_phone.AgentPhoneError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(phone=cfg.to_json_dict(), asterisk_reachable=agent_phone.asterisk_reachable(s.webrtc_ws_url),
                   certificate_url=agent_phone.certificate_url(s.webrtc_ws_url))


@bp.post("/state")
def agent_state() -> tuple[Response, int] | Response:
    """Log in to / pause / resume / log out of the queue: AMI QueueAdd, QueuePause, QueueRemove."""
    action = (request.get_json(silent=True) or {}).get("action") or request.form.get("action", "")
    if action not in STATE_ACTIONS:
        return jsonify(error="未知的操作"), 400
    members = current_app.extensions.get("queue_members")
    if members is None:
        return jsonify(error="坐席状态服务未连接（AMI），请联系管理员。"), 503
    interface = "PJSIP/" + agent_phone.endpoint_name(current_user.username)
    try:
        if action == "login":
            resp = members.add(interface, current_user.username)
        elif action == "logout":
            resp = members.remove(interface)
        else:
            resp = members.pause(interface, action == "pause", "坐席暂停" if action == "pause" else "")
    except Exception as exc:  # AmiUnavailable (admin may not import ivr) or a dropped connection
        current_app.logger.warning("queue %s for %s failed: %s", action, interface, exc)
        return jsonify(error="无法连接 Asterisk 管理接口，坐席状态未改变。"), 503
    if not resp.ok and not (action == "login" and "Already there" in resp.text):
        return jsonify(error=f"Asterisk 拒绝了操作：{resp.text}"), 409
    return jsonify(state=action, message=STATE_LABELS[action])


@bp.get("/calls/<call_uuid>.json")
def call_context(call_uuid: str) -> Response:
    """Screen-pop for a ringing call (the X-Hotline-Call header of the INVITE)."""
    pop = svc.screen_pop(db(), call_uuid, full_numbers=sees_full_numbers())
    if pop is None:
        abort(404)
    return jsonify(pop.to_json_dict())


@bp.post("/calls/<call_uuid>/callback")
def callback_from_call(call_uuid: str) -> tuple[Response, int] | Response:
    """File a callback task from the open call (the agent promises to call back)."""
    note = str((request.get_json(silent=True) or {}).get("note") or "")[:500]
    try:
        task_id = svc.callback_from_call(db(), call_uuid, note, current_user.username)
        db().commit()
    except svc.CallbackError as exc:
        db().rollback()
        return jsonify(error=str(exc)), 409
    return jsonify(task_id=task_id, message="已登记回电任务。")


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
