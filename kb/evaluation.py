"""Scoring the engine on a labelled question set (tests/kb/questions.yaml format); used by the threshold test
and benchmarks/kb_bench.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.api import Answer
from kb.qa import QAEngine


@dataclass
class Score:
    total: int = 0
    item_ok: int = 0
    aspect_total: int = 0
    aspect_ok: int = 0
    misses: list[str] = field(default_factory=list)

    def pct(self, a: int, b: int) -> str:
        return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "  n/a"


HELD_OUT_EVERY = 5  # every 5th labelled question (index % 5 == 4) is held out from any tuning


def split(cases: list[dict]) -> tuple[list[dict], list[dict]]:
    """(tuning, held_out): deterministic, by position in the file, so every kind lands in both parts."""
    tuning = [c for i, c in enumerate(cases) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    held_out = [c for i, c in enumerate(cases) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return tuning, held_out


def transcript_cases(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(tuning, held_out) question cases from recorded ASR transcripts (tests/kb/asr_transcripts.yaml): the heard
    text is the question, kind "asr"; a transcript is held out when its source question is (its ``index`` in
    tests/kb/questions.yaml), so tuning on text and on transcripts never sees the held-out fifth."""
    tuning, held_out = [], []
    for r in rows:
        case = {"q": r["heard"], "item": r["item"], "aspect": r.get("aspect"), "kind": "asr", "source": r["q"]}
        (held_out if r["index"] % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else tuning).append(case)
    return tuning, held_out


def item_correct(case: dict, ans: Answer) -> bool:
    expected = case.get("item")
    if expected is None:
        return ans.abstained and not ans.clarify
    if expected == "AMBIGUOUS":
        return ans.clarify and {a.item_code for a in ans.alternatives[:2]} == set(case.get("alternatives", []))
    return ans.item_code == expected and not ans.abstained


def evaluate(engine: QAEngine, cases: list[dict]) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for case in cases:
        ans = engine.answer(case["q"], context_item=case.get("context"))
        s = scores.setdefault(case["kind"], Score())
        s.total += 1
        ok = item_correct(case, ans)
        s.item_ok += ok
        aspect_ok = True
        if case.get("item") not in (None, "AMBIGUOUS") and ok:
            s.aspect_total += 1
            aspect_ok = ans.aspect == case["aspect"]
            s.aspect_ok += aspect_ok
        if not ok or not aspect_ok:
            s.misses.append(f"  {case['q']} (ctx {case.get('context')}) want {case.get('item')}/{case['aspect']} "
                            f"got {ans.item_code}/{ans.aspect} conf {ans.confidence:.2f} clarify {ans.clarify} "
                            f"alts {[a.item_code for a in ans.alternatives]}")
    return scores
