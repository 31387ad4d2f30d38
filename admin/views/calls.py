"""Call list with filters and keyset paging, call detail with transcript and audio, CSV export."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from admin.access import ANY_ROLE, require_roles, sees_full_numbers
from admin.database import db
from admin.forms import CallFilterForm, choices
from admin.services import calls as svc
from admin.services.masking import redact, redact_fields, shown_number
from admin.views.audio import playable, send_stored
from hotline.models import Call

bp = Blueprint("calls", __name__, url_prefix="/calls")
require_roles(bp, ANY_ROLE)  # agents see the list too, with masked numbers


def _filter_form() -> tuple[CallFilterForm, svc.CallFilter]:
    form = CallFilterForm(formdata=MultiDict(request.args))
    form.outcome.choices = choices([("", "全部"), *svc.OUTCOME_LABELS.items()])
    if request.args and not form.validate():
        abort(400, "；".join(f"{form[name].label.text}：{errs[0]}" for name, errs in form.errors.items()))
    flt = svc.CallFilter(
        date_from=form.date_from.data, date_to=form.date_to.data, outcome=form.outcome.data or None,
        item_code=(form.item.data or "").strip() or None, department=(form.department.data or "").strip() or None,
        escalated=form.escalated.data, abandoned=form.abandoned.data, low_confidence=form.low_confidence.data,
        # Agents could otherwise unmask a number by guessing it in the filter.
        caller_number=(form.number.data or None) if sees_full_numbers() else None,
    )
    return form, flt


@bp.get("/")
def index() -> str:
    form, flt = _filter_form()
    try:
        page = svc.list_calls(db(), flt, cursor=request.args.get("after"), full_numbers=sees_full_numbers())
    except svc.CallQueryError as exc:
        abort(400, str(exc))
    args = request.args.to_dict()
    args.pop("after", None)
    if not sees_full_numbers():
        args.pop("number", None)  # ignored for agents (see _filter_form), so not carried into links either
    next_url = url_for("calls.index", **args, after=page.next_cursor) if page.next_cursor else None
    return render_template("calls/list.html", form=form, page=page, next_url=next_url,
                           first_url=url_for("calls.index", **args) if "after" in request.args else None,
                           csv_url=url_for("calls.export", **args), full_numbers=sees_full_numbers())


@bp.get("/export.csv")
def export() -> Response:
    _form, flt = _filter_form()
    lines = svc.export_csv(db(), flt, full_numbers=sees_full_numbers())
    return Response(lines, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=calls.csv"})


@bp.get("/<int:call_id>")
def detail(call_id: int) -> str:
    call = svc.get_call(db(), call_id)
    if call is None:
        abort(404)
    full = sees_full_numbers()
    # Agents read the transcript and events too: the caller's number is masked inside them as well.
    texts = {t.id: (redact(t.text, call.caller_number, full), redact(t.answer_text, call.caller_number, full))
             for t in call.turns}
    events = [(e, redact_fields(e.data, call.caller_number, full)) for e in svc.call_events(db(), call)]
    return render_template("calls/detail.html", call=call, events=events, texts=texts,
                           number=shown_number(call.caller_number, full),
                           has_recording=playable(call.recording_path),
                           turn_audio={t.id for t in call.turns if playable(t.audio_path)},
                           voicemails=[t for t in svc.call_callbacks(db(), call) if playable(t.audio_path)])


@bp.get("/<int:call_id>/recording")
def recording(call_id: int) -> Response:
    call = db().get(Call, call_id)
    if call is None:
        abort(404)
    return send_stored(call.recording_path)


@bp.get("/<int:call_id>/turns/<int:turn_id>/audio")
def turn_audio(call_id: int, turn_id: int) -> Response:
    call = svc.get_call(db(), call_id)
    turn = next((t for t in call.turns if t.id == turn_id), None) if call else None
    if turn is None:
        abort(404)
    return send_stored(turn.audio_path)
