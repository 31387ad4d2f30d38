"""Labelled real caller audio: the queue, saving labels, weekly figures, and a labelled set that round-trips."""

from __future__ import annotations

import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from hotline.db import make_engine, make_sessionmaker, upgrade
from hotline.models import Call, CallTurn, SpeechLabel
from speech import labels as store
from speech.audio import silence, write_wav

MONDAY = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 CST, ISO week 2026-W49


@pytest.fixture
def db(settings):
    engine = make_engine(settings.effective_database_url)
    session = make_sessionmaker(engine)()
    yield session
    session.close()
    engine.dispose()


def _call(db, settings, turns: list[tuple[str, str | None, datetime]], name: str = "c") -> list[int]:
    """A call whose caller turns (heard text, item answered, when) each have a recorded WAV."""
    call = Call(call_uuid=str(uuid.uuid4()), caller_number="13812345678", started_at=turns[0][2])
    for seq, (text, item, at) in enumerate(turns, 1):
        rel = f"utterances/{name}-{seq}.wav"
        path = settings.recording_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, silence(200) + bytes([seq, 1]) * 800, 8000)  # distinct audio per turn
        call.turns.append(CallTurn(seq=seq, speaker="caller", kind="speech", text=text, item_code=item, at=at,
                                   asr_confidence=0.7, audio_path=rel))
    db.add(call)
    db.commit()
    return [t.id for t in call.turns]


def _label(db, settings, turn_id: int, transcript: str, item: str | None, user: str = "agent1") -> SpeechLabel:
    label = store.save_label(db, settings.recording_dir, turn_id, transcript=transcript, item_code=item,
                             aspect=None, out_of_scope=item is None, username=user)
    db.commit()
    return label


def test_queue_lists_recorded_unlabelled_caller_turns_newest_first(db, settings):
    first, second = _call(db, settings, [("狗证怎么办", "GA-001", MONDAY), ("市民卡丢了", "SMK-001", MONDAY)])
    (settings.recording_dir / "utterances" / "gone.wav").unlink(missing_ok=True)
    assert [p.turn_id for p in store.pending(db, settings.recording_dir)] == [second, first]
    _label(db, settings, second, "市民卡丢了", "SMK-001")
    assert [p.turn_id for p in store.pending(db, settings.recording_dir)] == [first]
    assert store.pending_count(db) == 1
    assert store.pending(db, settings.recording_dir, before_id=first) == []


def test_a_turn_whose_audio_points_outside_the_recordings_is_not_offered(db, settings, tmp_path):
    outside = tmp_path / "secret.wav"
    write_wav(outside, silence(100), 8000)
    (turn_id,) = _call(db, settings, [("你好", None, MONDAY)])
    db.get(CallTurn, turn_id).audio_path = "../../secret.wav"
    db.commit()
    assert store.pending(db, settings.recording_dir) == []
    assert store.turn_audio(db, settings.recording_dir, turn_id) is None
    with pytest.raises(store.LabelError):
        _label(db, settings, turn_id, "你好", None)


def test_a_label_needs_a_transcript_and_an_item_or_out_of_scope(db, settings):
    (turn_id,) = _call(db, settings, [("狗证", "GA-001", MONDAY)])
    with pytest.raises(store.LabelError, match="实际说的话"):
        store.save_label(db, settings.recording_dir, turn_id, transcript=" ", item_code="GA-001", aspect=None,
                         out_of_scope=False, username="a")
    with pytest.raises(store.LabelError, match="选择事项"):
        store.save_label(db, settings.recording_dir, turn_id, transcript="狗证", item_code=None, aspect=None,
                         out_of_scope=False, username="a")


def test_relabelling_updates_the_one_label_and_keeps_what_was_heard(db, settings):
    (turn_id,) = _call(db, settings, [("狗正怎么办", "GA-002", MONDAY)])
    _label(db, settings, turn_id, "狗证怎么办", "GA-002", user="agent1")
    label = _label(db, settings, turn_id, "狗证怎么办", "GA-001", user="boss")
    assert db.query(SpeechLabel).count() == 1
    assert (label.item_code, label.labelled_by, label.heard_text, label.heard_item) == \
        ("GA-001", "boss", "狗正怎么办", "GA-002")


def test_figures_per_iso_week_of_when_it_was_said(db, settings):
    next_week = MONDAY + timedelta(days=7)
    sunday_night_cst = MONDAY - timedelta(hours=11)  # 2026-11-29 23:00 CST: still week 48
    ids = _call(db, settings, [("狗正怎么办", "GA-001", MONDAY), ("市民卡丢了", "SMK-002", MONDAY),
                               ("明天下雨吗", None, next_week), ("护照", "GA-013", sunday_night_cst)])
    _label(db, settings, ids[0], "狗证怎么办", "GA-001")  # 1 edit in 5, right item
    _label(db, settings, ids[1], "市民卡丢了", "SMK-001")  # wrong item
    _label(db, settings, ids[2], "明天下雨吗", None)  # out of scope, not answered: right
    _label(db, settings, ids[3], "护照", "GA-013")
    weeks = store.by_week(store.scored(store.all_labels(db)))
    assert [w.week for w in weeks] == ["2026-W48", "2026-W49", "2026-W50"]
    w49 = weeks[1].figures
    assert (w49.n, w49.items_n, w49.items_right) == (2, 2, 1)
    assert w49.cer == pytest.approx(1 / 10)
    assert (weeks[2].figures.oos_n, weeks[2].figures.oos_right, weeks[2].figures.item_accuracy) == (1, 1, None)
    total = store.figures(store.scored(store.all_labels(db)))
    assert (total.n, total.items_right, total.items_n) == (4, 2, 3)


def test_an_exported_set_imports_into_another_installation_and_exports_the_same(db, settings, tmp_path):
    ids = _call(db, settings, [("狗正怎么办", "GA-001", MONDAY), ("明天下雨吗", None, MONDAY)])
    _label(db, settings, ids[0], "狗证怎么办", "GA-001")
    _label(db, settings, ids[1], "明天下雨吗", None)
    exported = tmp_path / "set.zip"
    assert store.export_set(db, settings.recording_dir, exported) == 2

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other_url)
    other_recordings = tmp_path / "other-recordings"
    engine = make_engine(other_url)
    with make_sessionmaker(engine)() as other:
        assert store.import_set(other, other_recordings, exported, "centre-a") == (2, 0)
        other.commit()
        assert store.import_set(other, other_recordings, exported, "centre-a") == (0, 2)  # duplicates skipped
        again = tmp_path / "again.zip"
        assert store.export_set(other, other_recordings, again) == 2
        assert {lb.source for lb in store.all_labels(other)} == {"import:centre-a"}
    engine.dispose()

    def content(path):
        with zipfile.ZipFile(path) as zf:
            lines = [json.loads(x) for x in zf.read("labels.jsonl").decode().splitlines()]
            audio = {name: zf.read(name) for name in zf.namelist() if name.startswith("audio/")}
        for line in lines:
            line.pop("source")
        return lines, audio

    assert content(again) == content(exported)


def test_an_import_refuses_audio_that_does_not_match_its_hash(db, settings, tmp_path):
    (turn_id,) = _call(db, settings, [("狗证", "GA-001", MONDAY)])
    _label(db, settings, turn_id, "狗证", "GA-001")
    good = tmp_path / "good.zip"
    store.export_set(db, settings.recording_dir, good)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"tampered" if name.startswith("audio/") else src.read(name))
    db.query(SpeechLabel).delete()
    db.commit()
    with pytest.raises(store.LabelError, match="does not match"):
        store.import_set(db, settings.recording_dir, bad, "x")
    with pytest.raises(store.LabelError, match="not a labelled-set zip"):
        store.import_set(db, settings.recording_dir, tmp_path / "missing.zip", "x")


def test_the_cli_exports_imports_and_reports_a_labelled_set(db, settings, tmp_path, monkeypatch, capsys):
    from cli.main import main

    ids = _call(db, settings, [("狗正怎么办", "GA-001", MONDAY), ("明天下雨吗", "CENTRE", MONDAY)])
    _label(db, settings, ids[0], "狗证怎么办", "GA-001")
    _label(db, settings, ids[1], "明天下雨吗", None)  # answered although out of scope: wrong
    monkeypatch.setenv("HOTLINE_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HOTLINE_RECORDING_DIR", str(settings.recording_dir))
    archive = tmp_path / "set.zip"
    assert main(["speech", "labels", "export", str(archive)]) == 0
    assert main(["speech", "eval", "--from-labels", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.splitlines()[-1])
    assert report["total"] == {"n": 2, "cer": pytest.approx(1 / 10), "items_n": 1, "items_right": 1,
                               "item_accuracy": 1.0, "oos_n": 1, "oos_right": 0}
    assert [w["week"] for w in report["weeks"]] == ["2026-W49"]

    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other)
    monkeypatch.setenv("HOTLINE_DATABASE_URL", other)
    monkeypatch.setenv("HOTLINE_RECORDING_DIR", str(tmp_path / "other-rec"))
    assert main(["speech", "labels", "import", str(archive), "--name", "centre-a"]) == 0
    assert "2 labelled utterances added, 0 already here" in capsys.readouterr().out
    assert main(["speech", "eval", "--from-labels"]) == 0
    assert "2026-W49" in capsys.readouterr().out
