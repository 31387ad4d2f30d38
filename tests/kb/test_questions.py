"""The labelled question set (tests/kb/questions.yaml) against the issue's accuracy targets."""

from pathlib import Path

import pytest
import yaml

from kb.evaluation import evaluate, split

CASES = yaml.safe_load(Path(__file__).with_name("questions.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def scores(engine):
    return evaluate(engine, CASES)


def test_question_set_covers_every_kind() -> None:
    kinds = {c["kind"] for c in CASES}
    assert kinds == {"clean", "soundalike", "followup", "oos"}


def test_clean_top1_at_least_97_percent(scores) -> None:
    s = scores["clean"]
    assert s.item_ok / s.total >= 0.97, "\n".join(s.misses)


def test_soundalike_top1_at_least_90_percent(scores) -> None:
    s = scores["soundalike"]
    assert s.item_ok / s.total >= 0.90, "\n".join(s.misses)


def test_followups_at_least_90_percent(scores) -> None:
    s = scores["followup"]
    assert s.item_ok / s.total >= 0.90, "\n".join(s.misses)


def test_aspect_at_least_95_percent(scores) -> None:
    ok = sum(s.aspect_ok for s in scores.values())
    total = sum(s.aspect_total for s in scores.values())
    assert ok / total >= 0.95


def test_out_of_scope_answered_at_most_5_percent(scores) -> None:
    s = scores["oos"]
    assert (s.total - s.item_ok) / s.total <= 0.05, "\n".join(s.misses)


def test_held_out_fifth_is_not_far_below(engine) -> None:
    # Thresholds and the confidence model were fitted on the other four fifths (benchmarks/kb_fit.py): a much
    # lower held-out figure would mean they are overfitted.
    tuning, held_out = split(CASES)
    assert len(held_out) == len(CASES) // 5 and not {id(c) for c in tuning} & {id(c) for c in held_out}
    s = evaluate(engine, held_out)
    assert s["clean"].item_ok / s["clean"].total >= 0.95, "\n".join(s["clean"].misses)
    assert (s["oos"].total - s["oos"].item_ok) / s["oos"].total <= 0.1, "\n".join(s["oos"].misses)


def test_a_second_annotators_item_counts_only_in_the_either_figure(engine) -> None:
    """``item_alt``: an answer a second annotator found right is counted apart, never as the first label's."""
    got = engine.answer("狗证要带什么材料").item_code
    assert got is not None
    cases = [{"q": "狗证要带什么材料", "item": "XX-999", "item_alt": [got], "aspect": "materials", "kind": "k"},
             {"q": "狗证要带什么材料", "item": "XX-999", "item_alt": ["XX-998"], "aspect": "materials", "kind": "k"}]
    s = evaluate(engine, cases)["k"]
    assert (s.item_ok, s.item_either_ok) == (0, 1)
