"""Quality loop (admins): review queue, teach / dismiss, and a box to test what the IVR answers now."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from admin.access import ADMIN, require_roles
from admin.database import db
from admin.forms import ActionForm, AskForm, TeachForm
from admin.services import quality as svc
from admin.services.ask import ask

bp = Blueprint("quality", __name__, url_prefix="/quality")
require_roles(bp, (ADMIN,))


@bp.get("/")
def queue() -> str:
    return render_template("quality/queue.html", entries=svc.review_queue(db()), action=ActionForm())


@bp.route("/<int:turn_id>/teach", methods=["GET", "POST"])
def teach(turn_id: int) -> str | Response:
    try:
        turn = svc.get_entry(db(), turn_id)
    except svc.QualityError:
        abort(404)
    form = TeachForm(question=turn.text, item_code=request.args.get("item") or turn.item_code or "")
    if form.validate_on_submit():
        try:
            svc.teach(db(), turn_id, item_code=form.item_code.data, kind=form.kind.data,
                      question=form.question.data.strip(), answer=form.answer.data or "",
                      username=current_user.username)
            db().commit()
        except svc.QualityError as exc:
            db().rollback()
            flash(str(exc), "error")
        else:
            flash(f"已学习：「{form.question.data.strip()}」→ {form.item_code.data}", "ok")
            return redirect(url_for("quality.queue"))
    return render_template("quality/teach.html", form=form, turn=turn)


@bp.post("/<int:turn_id>/dismiss")
def dismiss(turn_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.dismiss(db(), turn_id, current_user.username)
        db().commit()
    except svc.QualityError as exc:
        db().rollback()
        flash(str(exc), "error")
    return redirect(url_for("quality.queue"))


@bp.route("/ask", methods=["GET", "POST"])
def ask_box() -> str:
    form = AskForm()
    answer = ask(form.question.data.strip()) if form.validate_on_submit() else None
    return render_template("quality/ask.html", form=form, answer=answer)
