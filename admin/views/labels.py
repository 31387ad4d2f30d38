"""Labelling real caller utterances (admins and agents) and the real-voice speech report (admins).

Agents label too: they know how callers talk, and the view never shows a caller number (not even masked).
The report and the export move caller audio and figures about the service, so they are for admins.
Audio is served by turn or label id, never by a path from the request (speech.labels resolves the stored path
inside recording_dir).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    after_this_request,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ADMIN, ANY_ROLE, require_roles, roles_required
from admin.database import db
from admin.forms import LabelForm, choices
from admin.services import labels as svc
from admin.views.audio import recording_dir, send_audio
from kb.api import ASPECTS
from speech import labels as store

bp = Blueprint("labels", __name__, url_prefix="/labels")
require_roles(bp, ANY_ROLE)

ASPECT_LABELS = {
    "materials": "材料", "location": "地点", "hours": "时间", "time_limit": "时限", "fee": "收费", "process": "流程",
    "conditions": "条件", "online": "网办", "express": "邮寄", "booking": "预约", "weekend": "周末", "tolerance": "容缺",
    "sample_form": "样表", "door_to_door": "上门", "general": "综合", "none": "无",
}


def _form(**data: object) -> LabelForm:
    form = LabelForm(**data)
    form.aspect.choices = choices([("", "（不指定）"), *((a, ASPECT_LABELS.get(a, a)) for a in ASPECTS)])
    return form


@bp.get("/")
def index() -> Response | str:
    """The next utterance to label (``before``: skip to one older than that turn)."""
    before = request.args.get("before", type=int)
    nxt = store.pending(db(), recording_dir(), limit=1, before_id=before)
    if nxt:
        return redirect(url_for("labels.label", turn_id=nxt[0].turn_id))
    return render_template("labels/done.html", recent=store.recent_labels(db()), skipped=before is not None)


@bp.route("/<int:turn_id>", methods=["GET", "POST"])
def label(turn_id: int) -> Response | str:
    if store.turn_audio(db(), recording_dir(), turn_id) is None:
        abort(404)
    entry = _entry(turn_id)
    existing = store.label_for_turn(db(), turn_id)
    form = _form(transcript=(existing.transcript if existing else entry.heard_text),
                 item_code=(existing.item_code if existing else entry.heard_item) or "",
                 aspect=(existing.aspect if existing else entry.aspect) or "",
                 out_of_scope=bool(existing and existing.out_of_scope))
    if request.method == "POST":
        form = _form()
        if form.validate_on_submit():
            code = (form.item_code.data or "").split()[0] if (form.item_code.data or "").strip() else None
            try:
                if code and not form.out_of_scope.data and not svc.known_code(db(), code):
                    raise store.LabelError(f"知识库里没有事项 {code}")
                store.save_label(db(), recording_dir(), turn_id, transcript=form.transcript.data,
                                 item_code=code, aspect=form.aspect.data or None,
                                 out_of_scope=form.out_of_scope.data, username=current_user.username)
                db().commit()
            except store.LabelError as exc:
                db().rollback()
                flash(str(exc), "error")
            else:
                flash("已保存标注。", "ok")
                return redirect(url_for("labels.index", before=turn_id))
    return render_template("labels/label.html", entry=entry, form=form, existing=existing,
                           items=svc.item_choices(db()), remaining=store.pending_count(db()),
                           aspects=ASPECT_LABELS)


def _entry(turn_id: int) -> store.Pending:
    entry = store.pending_entry(db(), turn_id)
    if entry is None:
        abort(404)
    return entry


@bp.get("/<int:turn_id>/audio")
def audio(turn_id: int) -> Response:
    return send_audio(store.turn_audio(db(), recording_dir(), turn_id))


@bp.get("/report")
@roles_required(ADMIN)
def report() -> str:
    rows = store.scored(store.all_labels(db()))
    return render_template("labels/report.html", weeks=store.by_week(rows), total=store.figures(rows))


@bp.get("/export.zip")
@roles_required(ADMIN)
def export() -> Response:
    tmp = Path(tempfile.mkstemp(suffix=".zip", prefix="labels-")[1])

    @after_this_request
    def _cleanup(response: Response) -> Response:
        tmp.unlink(missing_ok=True)
        return response

    store.export_set(db(), recording_dir(), tmp)
    return send_file(tmp.open("rb"), mimetype="application/zip", as_attachment=True,
                     download_name="speech-labels.zip")
