"""Scoring the engine on a labelled question set: tests/kb/questions.yaml (grouped by ``kind``) or the caller
corpus tests/kb/corpus/*.yaml (grouped by ``style``, split once into ``tune`` and ``held`` when written); used by
the question tests, benchmarks/kb_bench.py and benchmarks/kb_fit.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb.api import Answer
from kb.qa import QAEngine

SPLITS = ("tune", "held")


@dataclass
class Score:
    total: int = 0
    item_ok: int = 0
    item_either_ok: int = 0  # the first label or one a second annotator found as right (``item_alt``)
    aspect_total: int = 0
    aspect_ok: int = 0
    aspect_either_ok: int = 0  # matches the first label or a second annotator's (``aspect_alt``, where they differ)
    clarified: int = 0  # answered with a clarifying question
    abstained: int = 0  # no item and no clarifying question
    misses: list[str] = field(default_factory=list)
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (wanted, got) for wrong answers

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


def heard_cases(rows: list[dict]) -> list[dict]:
    """Cases from recorded transcripts of caller-corpus questions (tests/kb/asr_corpus_*.yaml): the heard text is
    the question, ``source`` the question as written; the corpus labels."""
    return [{**r, "q": r["heard"], "source": r["q"]} for r in rows]


def heard_tune_cases(path: Path, group_of: dict[str, str]) -> list[dict]:
    """The fitting scripts' transcripts (tests/kb/asr_corpus_tune.yaml, when the file exists) of the written
    questions in ``group_of`` (question -> its CV group), each in its question's group."""
    if not path.is_file():
        return []
    return [{**c, "group": group_of[c["source"]]}
            for c in heard_cases(yaml.safe_load(path.read_text(encoding="utf-8"))) if c["source"] in group_of]


def written(case: dict) -> str:
    """The question as written: a transcript's source, else the question. A transcript shares its question's CV
    fold and is never its exemplar."""
    return case.get("source", case["q"])


def own_tuning_cases(questions: Path, transcripts: Path) -> list[dict]:
    """The tuning four fifths of our own question set (tests/kb/questions.yaml) and the recorded ASR transcripts of
    those questions, when the transcripts file exists: what the fitting scripts learn from besides the corpus."""
    tuning, _ = split(yaml.safe_load(questions.read_text(encoding="utf-8")))
    if transcripts.is_file():
        tuning += transcript_cases(yaml.safe_load(transcripts.read_text(encoding="utf-8")))[0]
    return tuning


def item_correct(case: dict, ans: Answer) -> bool:
    expected = case.get("item")
    if expected is None:
        return ans.abstained and not ans.clarify
    if expected == "AMBIGUOUS":
        # ``alternatives`` lists every item the question fairly means (two or more); a clarifying question is
        # right when both items it offers are among them.
        offered = {a.item_code for a in ans.alternatives[:2]}
        return ans.clarify and len(offered) == 2 and offered <= set(case.get("alternatives", []))
    return ans.item_code == expected and not ans.abstained


def load_corpus(directory: str | Path) -> list[dict]:
    """Every entry of every ``*.yaml`` list in ``directory`` (the caller corpus), in file order."""
    cases: list[dict] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        cases += yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return cases


def corpus_split(cases: list[dict], part: str) -> list[dict]:
    """The entries of one split. The split was fixed when the questions were written (``split:``); tuning code
    only ever asks for "tune"."""
    if part not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {part!r}")
    return [c for c in cases if c.get("split") == part]


def evaluate(engine: QAEngine, cases: list[dict], key: str = "kind") -> dict[str, Score]:
    """Scores per ``key`` of the cases ("kind" in tests/kb/questions.yaml, "style" in the corpus)."""
    scores: dict[str, Score] = {}
    for case in cases:
        ans = engine.answer(case["q"], context_item=case.get("context"))
        s = scores.setdefault(case[key], Score())
        s.total += 1
        ok = item_correct(case, ans)
        s.item_ok += ok
        s.item_either_ok += ok or any(item_correct({**case, "item": alt}, ans) for alt in case.get("item_alt", ()))
        s.clarified += ans.clarify
        s.abstained += ans.abstained and not ans.clarify
        if not ok:
            got = "(clarify " + "/".join(a.item_code for a in ans.alternatives[:2]) + ")" if ans.clarify else (
                ans.item_code or "(abstain)")
            s.confusions[(str(case.get("item")), got)] += 1
        aspect_ok = True
        if case.get("item") not in (None, "AMBIGUOUS") and ok:
            s.aspect_total += 1
            aspect_ok = ans.aspect == case["aspect"]
            s.aspect_ok += aspect_ok
            s.aspect_either_ok += aspect_ok or ans.aspect == case.get("aspect_alt")
        if not ok or not aspect_ok:
            s.misses.append(f"  {case['q']} (ctx {case.get('context')}) want {case.get('item')}/{case['aspect']} "
                            f"got {ans.item_code}/{ans.aspect} conf {ans.confidence:.2f} clarify {ans.clarify} "
                            f"alts {[a.item_code for a in ans.alternatives]}")
    return scores
