"""The call record: Call / CallTurn / CallEvent / CallbackTask rows, written off the event loop, never lost.

Every write is a small JSON-able operation keyed by the call UUID (not the row id), applied in one worker thread
so writes of a call keep their order and the event loop never waits on the database. When the database is down
an operation is retried briefly, then appended to ``<var_dir>/spool/calllog.jsonl``; the spool is replayed before
the next write and at start-up, so a DB outage delays records but does not lose them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hotline.db import make_engine, make_sessionmaker, session_scope
from hotline.models.base import utcnow
from hotline.models.calls import Call, CallbackTask, CallEvent, CallTurn
from hotline.outcomes import Outcome

log = logging.getLogger(__name__)

_DT_FIELDS = {"started_at", "answered_at", "ended_at", "queue_joined_at", "at", "created_at"}
_CALL_FIELDS = {c.key for c in Call.__table__.columns} - {"id", "call_uuid"}
_TURN_FIELDS = {c.key for c in CallTurn.__table__.columns} - {"id", "call_id"}
# Queue states AMI events imply (ivr.escalation.QUEUE_STATES); anything else was reported by the dialplan.
AMI_QUEUE_STATES = frozenset({"waiting", "ringing", "connected", "completed", "abandoned"})


def _jsonable(op: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in op.items()}


def _revive(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (datetime.fromisoformat(v) if k in _DT_FIELDS and isinstance(v, str) else v) for k, v in fields.items()}


def _call(session: Session, call_uuid: str, create: bool = True, at: datetime | None = None) -> Call | None:
    """The call row for a UUID; AGI call-start and the AudioSocket may arrive in either order, so upsert. A new
    row starts when its first operation was made (``at``), not when it is written: a call hung up during Answer()
    (call-end alone) would otherwise end before it started, and a spool replayed after an outage start late."""
    row = session.scalar(select(Call).where(Call.call_uuid == call_uuid))
    if row is None and create:
        row = Call(call_uuid=call_uuid, **({"started_at": at} if at else {}))
        session.add(row)
        session.flush()
    return row


def _adopt_events(session: Session, call: Call, uniqueid: str) -> None:
    """AMI events (Newchannel...) come before call-start names the channel: attach them to the call now."""
    session.execute(
        update(CallEvent)
        .where(CallEvent.asterisk_uniqueid == uniqueid, CallEvent.call_id.is_(None))
        .values(call_id=call.id)
    )


def apply(session: Session, op: dict[str, Any]) -> None:
    """Apply one operation inside a transaction (also used when replaying the spool)."""
    kind = op["op"]
    if kind == "ami_event":
        call = session.scalar(select(Call).where(Call.asterisk_uniqueid == op["uniqueid"])) if op["uniqueid"] else None
        session.add(CallEvent(call=call, asterisk_uniqueid=op["uniqueid"], source="ami", name=op["name"],
                              data=op.get("data"), at=_revive(op)["at"]))
        if call is not None:
            for key, value in _revive(op.get("call_fields") or {}).items():
                if key == "queue_state" and call.queue_state not in (None, *AMI_QUEUE_STATES):
                    continue  # the dialplan's verdict (timeout...) outranks the QueueCallerAbandon it causes
                if key in _CALL_FIELDS:
                    setattr(call, key, value)
        return
    call = _call(session, op["uuid"], at=_revive(op).get("at"))
    assert call is not None
    if kind == "update":
        fields = _revive(op["fields"])
        for key, value in fields.items():
            if key not in _CALL_FIELDS:
                raise ValueError(f"unknown call field {key}")
            if op.get("keep") and getattr(call, key) is not None:
                continue  # first value wins (first_question, item_code...)
            if key == "asterisk_uniqueid" and value and value != call.asterisk_uniqueid:
                _adopt_events(session, call, value)
            setattr(call, key, value)
    elif kind == "turn":
        fields = _revive(op["fields"])
        # Numbered here, by the one writer, after the turns already stored: operations arrive in order (spool
        # replay included), and a call that comes back to the IVR (an agent sends the caller back, another
        # worker takes it over) continues its numbering instead of starting at 1 again.
        last = session.scalar(select(func.max(CallTurn.seq)).where(CallTurn.call_id == call.id))
        fields["seq"] = (last or 0) + 1
        session.add(CallTurn(call=call, **{k: v for k, v in fields.items() if k in _TURN_FIELDS}))
        call.turn_count = (call.turn_count or 0) + (1 if fields.get("speaker") == "caller" else 0)
        conf = fields.get("asr_confidence")
        if conf is not None:
            call.min_confidence = conf if call.min_confidence is None else min(call.min_confidence, conf)
    elif kind == "event":
        session.add(CallEvent(call=call, asterisk_uniqueid=call.asterisk_uniqueid, source=op.get("source", "ivr"),
                              name=op["name"], data=op.get("data"), at=_revive(op)["at"]))
    elif kind == "callback":
        session.add(CallbackTask(call_id=call.id, number=op.get("number") or call.caller_number or "unknown",
                                 question=op.get("question"), item_code=op.get("item_code"),
                                 created_at=_revive(op)["at"], note=op.get("note"),
                                 audio_path=op.get("audio_path")))
    elif kind == "finish":
        # A finished call is not reopened by a late duplicate (e.g. spool replay after a later success).
        if call.outcome == Outcome.IN_PROGRESS.value or op.get("force"):
            call.outcome = op["outcome"]
            call.ended_at = _revive(op)["at"]
            if op.get("error"):
                call.error = op["error"]
        elif call.ended_at is None:
            call.ended_at = _revive(op)["at"]  # e.g. failed over by a restart: keep the outcome, record the end
    else:
        raise ValueError(f"unknown call log operation {kind}")


class CallLog:
    """Asynchronous, ordered, outage-tolerant writer of call records; one per process."""

    def __init__(self, factory: sessionmaker[Session], spool_path: Path, retries: int = 2,
                 retry_delay_s: float = 0.2) -> None:
        self._factory = factory
        self.spool_path = spool_path
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        # One thread: per-call ordering for free, and SQLite never sees two writers from us.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calllog")
        self._lock = threading.Lock()
        self.spooled = 0  # operations written to the spool since start (for tests and metrics)

    @classmethod
    def from_settings(cls, settings) -> CallLog:  # noqa: ANN001 - hotline.config.Settings
        engine = make_engine(settings.effective_database_url)
        return cls(make_sessionmaker(engine), Path(settings.var_dir) / "spool" / "calllog.jsonl")

    # ---- public async API (never raises on DB trouble) ----

    # Each method queues its write at once and returns a future: await it when later steps depend on the row
    # (e.g. before Asterisk's call-route reads it), or let it run — the single writer keeps the order anyway.

    def submit(self, op: dict[str, Any]) -> asyncio.Future[None]:
        op.setdefault("at", utcnow())
        op = _jsonable(op)
        return asyncio.get_running_loop().run_in_executor(self._executor, self._write, op)

    def start_call(self, call_uuid: str, **fields: Any) -> asyncio.Future[None]:
        return self.update(call_uuid, keep=True, started_at=utcnow(), answered_at=utcnow(), **fields)

    def update(self, call_uuid: str, keep: bool = False, **fields: Any) -> asyncio.Future[None]:
        return self.submit({"op": "update", "uuid": call_uuid, "fields": _jsonable(fields), "keep": keep})

    def turn(self, call_uuid: str, **fields: Any) -> asyncio.Future[None]:
        fields.setdefault("at", utcnow())
        return self.submit({"op": "turn", "uuid": call_uuid, "fields": _jsonable(fields)})

    def event(self, call_uuid: str, name: str, data: dict | None = None, source: str = "ivr") -> asyncio.Future[None]:
        return self.submit({"op": "event", "uuid": call_uuid, "name": name, "data": data, "source": source})

    def ami_event(self, uniqueid: str | None, name: str, data: dict | None = None,
                  call_fields: dict[str, Any] | None = None) -> asyncio.Future[None]:
        return self.submit({"op": "ami_event", "uniqueid": uniqueid, "name": name, "data": data,
                            "call_fields": _jsonable(call_fields or {})})

    def callback(self, call_uuid: str, number: str | None, question: str | None, item_code: str | None,
                 note: str | None = None, audio_path: str | None = None) -> asyncio.Future[None]:
        """``audio_path``: the caller's message, relative to recording_dir (ivr.recordings validates it)."""
        return self.submit({"op": "callback", "uuid": call_uuid, "number": number, "question": question,
                            "item_code": item_code, "note": note, "audio_path": audio_path})

    def finish(self, call_uuid: str, outcome: Outcome | str, error: str | None = None) -> asyncio.Future[None]:
        return self.submit({"op": "finish", "uuid": call_uuid, "outcome": str(outcome), "error": error})

    async def read(self, fn, *args):  # noqa: ANN001, ANN201 - fn(session, *args) -> value
        """Run a read query in the writer thread (so it sees every earlier write)."""

        def run():
            with session_scope(self._factory) as session:
                return fn(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    # ---- start-up ----

    def replay_spool(self) -> bool:
        """Apply what an outage (or a crash during one) left in the spool; True when it is empty now."""
        with self._lock:
            return self._replay()

    def open_calls(self, worker: str | None = None) -> list[tuple[str, str | None]]:
        """(call UUID, Asterisk uniqueid) of rows no process is closing: in progress, or failed over and not
        yet ended. At start-up these are what a crashed process left behind. With ``worker``
        (ivr.control.worker_id) only the rows that worker started, or that no worker claimed: the other workers
        sharing the database are alive and their calls are not orphans."""
        with session_scope(self._factory) as session:
            rows = session.execute(select(Call.id, Call.call_uuid, Call.asterisk_uniqueid).where(
                (Call.outcome == Outcome.IN_PROGRESS.value)
                | ((Call.outcome == Outcome.FAILED_OVER.value) & Call.ended_at.is_(None)))).all()
            if worker is not None and rows:
                owner = dict(session.execute(
                    select(CallEvent.call_id, CallEvent.data)
                    .where(CallEvent.call_id.in_([r[0] for r in rows]), CallEvent.name == "call-start")).all())
                rows = [r for r in rows if (owner.get(r[0]) or {}).get("worker") in (None, worker)]
            return [(u, uid) for _, u, uid in rows]

    def close_orphans(self, live: set[str] | None, worker: str | None = None) -> tuple[int, int]:
        """Close the rows a crashed process left open, by Asterisk's own record: ``live`` holds the uniqueids of
        channels Asterisk still has (None: Asterisk could not be asked). Every row becomes ``failed_over``; a
        channel that is gone also gets its end time, a live one gets it from the dialplan's call-end later.
        ``worker``: only that worker's rows (see open_calls). Returns (closed, still live)."""
        closed = carried_on = 0
        now = utcnow()
        with session_scope(self._factory) as session:
            for call_uuid, uniqueid in self.open_calls(worker):
                call = _call(session, call_uuid, create=False)
                if call is None:
                    continue
                if live is not None and uniqueid and uniqueid in live:
                    call.error = "IVR restarted mid-call; Asterisk's dialplan carried the caller on"
                    carried_on += 1
                else:
                    call.ended_at = call.ended_at or now
                    call.error = ("IVR restarted mid-call; Asterisk had already ended the call" if live is not None
                                  else "IVR restarted mid-call; Asterisk could not be asked (AMI down)")
                    closed += 1
                call.outcome = Outcome.FAILED_OVER.value
                session.add(CallEvent(call=call, asterisk_uniqueid=uniqueid, source="ivr", name="failed_over",
                                      data={"channel_live": None if live is None else bool(uniqueid and uniqueid in live)},
                                      at=now))
        return closed, carried_on

    def flush_spool(self) -> asyncio.Future[bool]:
        """Replay the spool in the writer thread (after every write queued before): called periodically, so a
        database that comes back gets its rows even when no new call writes anything."""
        return asyncio.get_running_loop().run_in_executor(self._executor, self.replay_spool)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._factory.kw["bind"].dispose()

    # ---- worker thread ----

    def _write(self, op: dict[str, Any]) -> None:
        with self._lock:
            if self.spool_path.exists() and not self._replay():
                self._spool(op)  # still down: keep the order, queue behind the spool
                return
            for attempt in range(self._retries + 1):
                try:
                    with session_scope(self._factory) as session:
                        apply(session, op)
                    return
                except SQLAlchemyError as exc:
                    if attempt == self._retries:
                        log.warning("call log: database unavailable (%s); spooling %s", exc.__class__.__name__,
                                    op["op"])
                        self._spool(op)
                        return
                    time.sleep(self._retry_delay_s * (attempt + 1))
                except Exception:
                    log.exception("call log: dropping malformed operation %s", op.get("op"))
                    return

    def _spool(self, op: dict[str, Any]) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(op, ensure_ascii=False) + "\n")
        self.spooled += 1

    def _replay(self) -> bool:
        """Apply the spooled operations in order; True when the spool is now empty."""
        if not self.spool_path.exists():
            return True
        lines = [ln for ln in self.spool_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        done = 0
        try:
            for line in lines:
                try:
                    with session_scope(self._factory) as session:
                        apply(session, json.loads(line))
                except (ValueError, KeyError, TypeError):
                    log.exception("call log: skipping unreadable spooled operation")
                done += 1
        except SQLAlchemyError:
            rest = lines[done:]
            self.spool_path.write_text("".join(x + "\n" for x in rest), encoding="utf-8")
            return False
        self.spool_path.unlink()
        if lines:
            log.info("call log: replayed %d spooled operations", len(lines))
        return True
