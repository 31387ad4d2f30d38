"""Server-Sent Events for the agent console and the web caller page: the server pushes a snapshot when it changes.

The snapshot is rebuilt from the database every ``interval_s`` on the server (one cheap query, in the panel's own
thread) and sent only when it differs from the last one sent, plus a comment line every 15 s so proxies keep the
connection open. A stream ends after ``lifetime_s``; EventSource reconnects by itself, so a WSGI thread is never
held forever by a tab left open. Each open stream holds one WSGI thread, so at most ``MAX_STREAMS`` are served at
once (the rest get 503: the console falls back to polling, EventSource retries): pages and forms always keep
threads (``hotline serve`` runs waitress with more threads than this).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

from flask import Response, current_app, stream_with_context
from sqlalchemy.orm import Session

KEEPALIVE_S = 15.0
MAX_STREAMS = 24


class _Streams:
    """Counts open event streams (one per app)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def sse_response(snapshot: Callable[[Session], dict], *, interval_s: float = 1.0, lifetime_s: float = 300.0) -> Response:
    """``text/event-stream`` of ``snapshot(session)`` as JSON ``data:`` messages, sent when the value changes."""
    factory = current_app.extensions["hotline_sessions"]
    streams: _Streams = current_app.extensions.setdefault("sse_streams", _Streams(MAX_STREAMS))
    if not streams.enter():
        return Response("too many open event streams\n", status=503, mimetype="text/plain")

    def events() -> Iterator[str]:
        yield "retry: 2000\n\n"  # reconnect after 2 s if the stream drops
        last, last_sent, started = None, time.monotonic(), time.monotonic()
        while time.monotonic() - started < lifetime_s:
            with factory() as session:
                payload = json.dumps(snapshot(session), ensure_ascii=False, sort_keys=True)
            now = time.monotonic()
            if payload != last:
                last, last_sent = payload, now
                yield f"data: {payload}\n\n"
            elif now - last_sent >= KEEPALIVE_S:
                last_sent = now
                yield ": keep-alive\n\n"
            time.sleep(interval_s)

    resp = Response(stream_with_context(events()), mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
    resp.call_on_close(streams.leave)  # the WSGI server closes the response when the stream ends or the client goes
    return resp


def csp_allowing(ws_url: str) -> str:
    """The panel's CSP with Asterisk's WebSocket origin added to connect-src (browser softphone, web caller)."""
    from admin.app import _CSP

    parts = ws_url.split("/")
    origin = "/".join(parts[:3])  # wss://host:port
    return _CSP.replace("connect-src 'self'", f"connect-src 'self' {origin}")
