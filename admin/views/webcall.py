"""The public web caller page: one button that calls 86909000 over WebRTC and the live transcript of that call.

No login and no access to anything else: the page gets the guest SIP identity (Asterisk lets it dial 86909000 only)
and a random token; the dialplan turns the token into the caller "number" web<token>, and the transcript stream
serves only the call carrying this browser session's token. Starting calls is rate-limited per client address.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, render_template, request, session
from sqlalchemy import select
from werkzeug.wrappers import Response

from admin.services import agent_phone
from admin.services.login_limit import LoginLimiter
from admin.views.agent_events import csp_allowing, sse_response
from hotline.models import Call, CallTurn

bp = Blueprint("webcall", __name__, url_prefix="/call")

CALLS_PER_WINDOW = 6  # call starts per client address ...
WINDOW_S = 600.0  # ... per 10 minutes
TOKEN_BYTES = 12  # 24 hex digits: the dialplan keeps at most 24


def _settings():  # noqa: ANN202 - hotline Settings
    return current_app.extensions["hotline_settings"]


def _limiter() -> LoginLimiter:
    # Counts call starts the way the login limiter counts failures: a sliding window per address.
    return current_app.extensions.setdefault("webcall_limiter", LoginLimiter(per_user=CALLS_PER_WINDOW,
                                                                             per_ip=CALLS_PER_WINDOW, window_s=WINDOW_S))


@bp.after_request
def _allow_asterisk_socket(resp: Response) -> Response:
    if _settings().webrtc_ws_url:
        resp.headers["Content-Security-Policy"] = csp_allowing(_settings().webrtc_ws_url)
    return resp


@bp.get("/")
def page() -> str:
    return render_template("webcall/page.html", enabled=bool(_settings().webrtc_ws_url))


@bp.post("/start")
def start() -> tuple[Response, int] | Response:
    """The guest SIP identity and a fresh token for one call."""
    s = _settings()
    if not (s.webrtc_ws_url and s.webrtc_secret):
        return jsonify(error="网页呼叫暂未开通。"), 503
    ip = request.remote_addr or "?"
    limiter = _limiter()
    if limiter.blocked(ip, "webcall"):
        return jsonify(error="呼叫太频繁，请十分钟后再试。"), 429
    limiter.failed(ip, "webcall")
    token = secrets.token_hex(TOKEN_BYTES)
    session["webcall_token"] = token
    cfg = agent_phone.guest_config(s.webrtc_ws_url, s.webrtc_secret)
    return jsonify(phone=cfg.to_json_dict(), token=token, number="86909000",
                   asterisk_reachable=agent_phone.asterisk_reachable(s.webrtc_ws_url),
                   certificate_url=agent_phone.certificate_url(s.webrtc_ws_url))


def transcript(db, token: str) -> dict:  # noqa: ANN001 - a SQLAlchemy session
    """This token's call: state and what was said so far, both sides, in order."""
    call = db.scalars(select(Call).where(Call.caller_number == f"web{token}").order_by(Call.id.desc()).limit(1)).first()
    if call is None:
        return {"state": "connecting", "turns": []}
    turns = db.execute(select(CallTurn.speaker, CallTurn.text)
                       .where(CallTurn.call_id == call.id, CallTurn.text.is_not(None)).order_by(CallTurn.seq))
    return {"state": "ended" if call.ended_at else "live", "item_name": call.item_name or "",
            "turns": [{"speaker": s, "text": t} for s, t in turns]}


@bp.get("/transcript")
def transcript_events() -> tuple[Response, int] | Response:
    token = session.get("webcall_token")
    if not token:
        return jsonify(error="请先发起呼叫。"), 404
    return sse_response(lambda db: transcript(db, token), lifetime_s=900.0)
