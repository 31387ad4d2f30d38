"""Real caller audio turned into a held-out speech set: what to label next, saving labels, weekly figures,
and moving a labelled set between installations (a zip of audio + one JSON line per utterance).

Pure database and file work (no models): the admin panel's labelling view and `hotline speech eval
--from-labels` both use it. Recordings are read only from inside ``recording_dir`` (hotline.recordings).

Export format (``labels.jsonl`` + ``audio/<sha256>.wav`` in one zip), one line per utterance::

    {"audio": "audio/<sha256>.wav", "sha256": "...", "spoken_at": "2026-12-01T09:30:00+00:00",
     "transcript": "...", "item_code": "GA-001" | null, "aspect": "materials" | null, "out_of_scope": false,
     "heard_text": "...", "heard_item": "GA-001" | null, "asr_confidence": 0.71 | null,
     "labelled_by": "agent1", "labelled_at": "...", "source": "call"}
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from hotline.errors import HotlineError
from hotline.models import CallTurn, SpeechLabel, utcnow
from hotline.recordings import resolve_audio
from speech.scoring import edits

CST = timezone(timedelta(hours=8), "CST")  # the centre's weeks are China Standard Time weeks
IMPORT_DIR = "labelled"  # under recording_dir: audio of imported sets
MAX_AUDIO_BYTES = 4 * 1024 * 1024  # an utterance is ~100 KB; refuse anything like a whole call
FIELDS = ("transcript", "item_code", "aspect", "out_of_scope", "heard_text", "heard_item", "asr_confidence",
          "labelled_by", "source")


class LabelError(HotlineError):
    """A label that cannot be saved, or a labelled set that cannot be imported; the message says why."""


@dataclass(frozen=True)
class Pending:
    """One recorded caller utterance waiting for its label (no caller number: labellers never see it)."""

    turn_id: int
    call_id: int
    spoken_at: datetime
    heard_text: str
    heard_item: str | None
    aspect: str | None
    asr_confidence: float | None


@dataclass(frozen=True)
class Figures:
    """CER and item accuracy through speech over a set of labelled utterances."""

    n: int
    cer: float  # corpus CER: character edits / reference characters
    items_n: int  # utterances about a KB item
    items_right: int  # ... answered with that item
    oos_n: int  # out-of-scope utterances
    oos_right: int  # ... not answered with any item

    @property
    def item_accuracy(self) -> float | None:
        return self.items_right / self.items_n if self.items_n else None


@dataclass(frozen=True)
class Week:
    week: str  # ISO week, "2026-W49"
    first_day: str  # its Monday, "2026-11-30"
    figures: Figures


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unlabelled():  # noqa: ANN202 - a SQLAlchemy select
    labelled = exists().where(SpeechLabel.turn_id == CallTurn.id)
    return (select(CallTurn)
            .where(CallTurn.speaker == "caller", CallTurn.kind == "speech", CallTurn.audio_path.is_not(None),
                   CallTurn.audio_path != "", ~labelled))


def pending(session: Session, recording_dir: Path, limit: int = 50, before_id: int | None = None) -> list[Pending]:
    """Unlabelled caller utterances whose audio exists, newest first (``before_id``: older than that turn)."""
    stmt = _unlabelled().order_by(CallTurn.id.desc())
    if before_id is not None:
        stmt = stmt.where(CallTurn.id < before_id)
    out: list[Pending] = []
    for turn in session.scalars(stmt.limit(limit * 4)):  # a few may have lost their file; look a little further
        if resolve_audio(recording_dir, turn.audio_path) is None:
            continue
        out.append(Pending(turn.id, turn.call_id, turn.at, turn.text or "", turn.item_code, turn.aspect,
                           turn.asr_confidence))
        if len(out) == limit:
            break
    return out


def pending_entry(session: Session, turn_id: int) -> Pending | None:
    """One caller utterance as the labelling view shows it (labelled or not)."""
    turn = session.get(CallTurn, turn_id)
    if turn is None or turn.speaker != "caller":
        return None
    return Pending(turn.id, turn.call_id, turn.at, turn.text or "", turn.item_code, turn.aspect, turn.asr_confidence)


def label_for_turn(session: Session, turn_id: int) -> SpeechLabel | None:
    return session.scalar(select(SpeechLabel).where(SpeechLabel.turn_id == turn_id))


def pending_count(session: Session) -> int:
    """Unlabelled recorded caller utterances (their files are not checked: a count for the page header)."""
    return session.scalar(select(func.count()).select_from(_unlabelled().subquery())) or 0


def turn_audio(session: Session, recording_dir: Path, turn_id: int) -> Path | None:
    """The audio of a caller utterance (labelled or not), or None."""
    turn = session.get(CallTurn, turn_id)
    if turn is None or turn.speaker != "caller":
        return None
    return resolve_audio(recording_dir, turn.audio_path)


def label_audio(session: Session, recording_dir: Path, label_id: int) -> Path | None:
    label = session.get(SpeechLabel, label_id)
    return resolve_audio(recording_dir, label.audio_path) if label else None


def save_label(session: Session, recording_dir: Path, turn_id: int, *, transcript: str, item_code: str | None,
               aspect: str | None, out_of_scope: bool, username: str) -> SpeechLabel:
    """Label (or re-label) one caller utterance; added to the session, not committed."""
    turn = session.get(CallTurn, turn_id)
    if turn is None or turn.speaker != "caller":
        raise LabelError("该语音不存在")
    audio = resolve_audio(recording_dir, turn.audio_path)
    if audio is None:
        raise LabelError("该语音的录音文件不存在")
    transcript = transcript.strip()
    if not transcript:
        raise LabelError("请填写来电人实际说的话")
    if out_of_scope:
        item_code, aspect = None, None
    elif not item_code:
        raise LabelError("请选择事项，或标为“不在知识库范围”")
    label = label_for_turn(session, turn_id) or SpeechLabel(turn_id=turn_id)
    label.audio_path = str(audio.relative_to(recording_dir.resolve()))
    label.audio_sha256 = _sha256(audio)
    label.spoken_at = turn.at
    label.heard_text = turn.text or ""
    label.heard_item = turn.item_code
    label.asr_confidence = turn.asr_confidence
    label.transcript = transcript
    label.item_code = item_code
    label.aspect = aspect or None
    label.out_of_scope = out_of_scope
    label.labelled_by = username
    label.labelled_at = utcnow()
    label.source = label.source or "call"
    session.add(label)
    return label


def recent_labels(session: Session, limit: int = 20) -> list[SpeechLabel]:
    return list(session.scalars(select(SpeechLabel).order_by(SpeechLabel.labelled_at.desc(), SpeechLabel.id.desc())
                                .limit(limit)))


# ---- figures --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    """One labelled utterance as an evaluation sees it (heard_* may come from a re-run of the recogniser)."""

    spoken_at: datetime
    transcript: str
    item_code: str | None
    out_of_scope: bool
    heard_text: str
    heard_item: str | None


def figures(rows: Iterable[Scored]) -> Figures:
    n = e_sum = c_sum = items_n = items_right = oos_n = oos_right = 0
    for r in rows:
        n += 1
        e, c = edits(r.transcript, r.heard_text)
        e_sum, c_sum = e_sum + e, c_sum + c
        if r.out_of_scope:
            oos_n += 1
            oos_right += r.heard_item is None
        else:
            items_n += 1
            items_right += r.heard_item == r.item_code
    return Figures(n, e_sum / c_sum if c_sum else 0.0, items_n, items_right, oos_n, oos_right)


def scored(labels: Iterable[SpeechLabel]) -> list[Scored]:
    return [Scored(lb.spoken_at, lb.transcript, lb.item_code, lb.out_of_scope, lb.heard_text, lb.heard_item)
            for lb in labels]


def by_week(rows: Sequence[Scored]) -> list[Week]:
    """Figures per ISO week (China Standard Time) of when the utterances were spoken, oldest first."""
    weeks: dict[tuple[int, int], list[Scored]] = {}
    for r in rows:
        at = r.spoken_at if r.spoken_at.tzinfo else r.spoken_at.replace(tzinfo=UTC)
        year, week, _ = at.astimezone(CST).isocalendar()
        weeks.setdefault((year, week), []).append(r)
    out = []
    for (year, week), members in sorted(weeks.items()):
        monday = datetime.fromisocalendar(year, week, 1).date()
        out.append(Week(f"{year}-W{week:02d}", monday.isoformat(), figures(members)))
    return out


def all_labels(session: Session) -> list[SpeechLabel]:
    return list(session.scalars(select(SpeechLabel).order_by(SpeechLabel.spoken_at, SpeechLabel.id)))


# ---- export / import ----------------------------------------------------------------------------------------------


def _line(label: SpeechLabel) -> dict:
    def iso(value: datetime) -> str:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()

    row = {"audio": f"audio/{label.audio_sha256}.wav", "sha256": label.audio_sha256,
           "spoken_at": iso(label.spoken_at)}
    row.update({name: getattr(label, name) for name in FIELDS})
    row["labelled_at"] = iso(label.labelled_at)
    return row


def export_set(session: Session, recording_dir: Path, target: Path) -> int:
    """Every label with its audio into one zip at ``target``; returns how many utterances it holds."""
    count = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        lines = []
        for label in all_labels(session):
            audio = resolve_audio(recording_dir, label.audio_path)
            if audio is None:
                continue  # the recording was deleted (retention): the label cannot travel without it
            zf.writestr(f"audio/{label.audio_sha256}.wav", audio.read_bytes())
            lines.append(json.dumps(_line(label), ensure_ascii=False, sort_keys=True))
            count += 1
        zf.writestr("labels.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    return count


def _parse_time(value: object, what: str) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise LabelError(f"{what}: not an ISO time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def import_set(session: Session, recording_dir: Path, archive: Path, name: str) -> tuple[int, int]:
    """Add the labels of an exported set (audio copied under recording_dir/labelled/); returns (added, already
    there). Audio is checked against its SHA-256; archive paths are never used as file names here."""
    added = skipped = 0
    target_dir = recording_dir / IMPORT_DIR
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise LabelError(f"{archive} is not a labelled-set zip: {exc}") from exc
    with zf:
        try:
            lines = zf.read("labels.jsonl").decode("utf-8").splitlines()
        except KeyError:
            raise LabelError(f"{archive} has no labels.jsonl") from None
        known = set(session.scalars(select(SpeechLabel.audio_sha256)))
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"labels.jsonl line {number}"
            try:
                row = json.loads(line)
                sha = str(row["sha256"])
                transcript = str(row["transcript"])
            except (ValueError, KeyError, TypeError):
                raise LabelError(f"{where}: not a label line") from None
            if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
                raise LabelError(f"{where}: bad sha256")
            if sha in known:
                skipped += 1
                continue
            info = zf.getinfo(f"audio/{sha}.wav") if f"audio/{sha}.wav" in zf.namelist() else None
            if info is None or info.file_size > MAX_AUDIO_BYTES:
                raise LabelError(f"{where}: audio/{sha}.wav is missing or too large")
            data = zf.read(info)
            if hashlib.sha256(data).hexdigest() != sha:
                raise LabelError(f"{where}: audio/{sha}.wav does not match its SHA-256")
            target_dir.mkdir(parents=True, exist_ok=True)
            path = target_dir / f"{sha}.wav"
            path.write_bytes(data)
            out_of_scope = bool(row.get("out_of_scope"))
            session.add(SpeechLabel(
                turn_id=None, audio_path=str(path.relative_to(recording_dir)), audio_sha256=sha,
                spoken_at=_parse_time(row.get("spoken_at"), where), transcript=transcript,
                item_code=None if out_of_scope else row.get("item_code"), aspect=row.get("aspect"),
                out_of_scope=out_of_scope, heard_text=str(row.get("heard_text") or ""),
                heard_item=row.get("heard_item"), asr_confidence=row.get("asr_confidence"),
                labelled_by=str(row.get("labelled_by") or "?")[:64],
                labelled_at=_parse_time(row.get("labelled_at") or row.get("spoken_at"), where),
                source=(str(row.get("source") or "") if str(row.get("source") or "").startswith("import:")
                        else f"import:{name}")[:64],
            ))
            known.add(sha)
            added += 1
    return added, skipped
