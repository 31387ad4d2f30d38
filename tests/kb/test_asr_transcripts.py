"""Item accuracy on what the real recogniser heard, recorded by benchmarks/asr_transcripts.py and checked as text so
it runs fast: for our own questions (tests/kb/asr_transcripts.yaml, the issue's through-speech target) and for the
caller corpus's held questions, written by others and never tuned on (tests/kb/asr_corpus_held.yaml). The corpus's
tune transcripts (asr_corpus_tune.yaml) are training data: they must never hold a held question."""

from pathlib import Path

import pytest
import yaml

from kb.evaluation import corpus_split, evaluate, heard_cases, load_corpus, split, transcript_cases
from kb.qa import QAEngine

HERE = Path(__file__).parent
ROWS = yaml.safe_load((HERE / "asr_transcripts.yaml").read_text(encoding="utf-8"))
TUNING, HELD_OUT = transcript_cases(ROWS)
CORPUS = load_corpus(HERE / "corpus")
HEARD = {part: yaml.safe_load((HERE / f"asr_corpus_{part}.yaml").read_text(encoding="utf-8")) for part in ("held", "tune")}
# Floors for the held corpus transcripts, a little under what the engine of stop 27 scored (see the closing note):
# a regression guard, not the target. Out of scope: at most this share answered.
HEARD_ITEM_FLOOR = 0.70
HEARD_OOS_ANSWERED_CEILING = 0.15


def test_transcripts_are_real_and_numerous() -> None:
    assert len(ROWS) >= 150
    # Recogniser output, not the written questions: a good share differs from what was said.
    assert sum(r["heard"] != r["q"] for r in ROWS) >= len(ROWS) // 3
    questions = yaml.safe_load(Path(__file__).with_name("questions.yaml").read_text(encoding="utf-8"))
    assert all(questions[r["index"]]["q"] == r["q"] and questions[r["index"]]["item"] == r["item"] for r in ROWS)


def test_held_out_follows_the_question_split() -> None:
    questions = yaml.safe_load(Path(__file__).with_name("questions.yaml").read_text(encoding="utf-8"))
    held_questions = {c["q"] for c in split(questions)[1]}
    assert HELD_OUT and all(c["source"] in held_questions for c in HELD_OUT)
    assert not any(c["source"] in held_questions for c in TUNING)


@pytest.mark.parametrize(("part", "cases", "target"), [
    ("all", TUNING + HELD_OUT, 0.90),  # the target
    ("held-out", HELD_OUT, 0.85),  # ~40 questions never tuned on: one miss is 2.5%, so "not far below" the target
])
def test_right_item_answered(engine: QAEngine, part: str, cases: list[dict], target: float) -> None:
    s = evaluate(engine, cases)["asr"]
    assert s.item_ok / s.total >= target, f"{part}: {s.pct(s.item_ok, s.total)}\n" + "\n".join(s.misses)


@pytest.mark.parametrize("part", ["held", "tune"])
def test_corpus_transcripts_are_of_their_split(part: str) -> None:
    labelled = {c["q"]: c for c in corpus_split(CORPUS, part)}
    rows = HEARD[part]
    assert len(rows) >= 400
    assert all(r["q"] in labelled and labelled[r["q"]].get("item") == r.get("item") for r in rows)
    assert sum(r["heard"] != r["q"] for r in rows) >= len(rows) // 2  # recogniser output, not the written text


def test_corpus_held_questions_through_speech(engine: QAEngine) -> None:
    scores = evaluate(engine, heard_cases(HEARD["held"]), key="style")
    oos = scores.pop("oos")
    ok, total = sum(s.item_ok for s in scores.values()), sum(s.total for s in scores.values())
    misses = "\n".join(m for s in scores.values() for m in s.misses)
    assert ok / total >= HEARD_ITEM_FLOOR, f"{ok}/{total}\n{misses}"
    assert (oos.total - oos.item_ok) / oos.total <= HEARD_OOS_ANSWERED_CEILING, "\n".join(oos.misses)
