"""The independent held-out question set (tests/kb/heldout/, issue 11) is well formed: it parses the way
kb.evaluation reads a corpus, every label is in the engine's vocabularies, every code exists in the default KB,
its targets are the seeded sample its README describes, and no question repeats the project corpus."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from kb.api import ASPECTS
from kb.evaluation import corpus_split, load_corpus
from kb.loader import default_data_dir, load_dir

HERE = Path(__file__).parent
HELDOUT = HERE / "heldout"
CORPUS = HERE / "corpus"
FILES = ("items.yaml", "bundles.yaml", "centre.yaml", "oos.yaml")
HEADER = "# 示例数据 — independent held-out set (issue 11)"
SEED, ITEMS_SAMPLED, BUNDLES_SAMPLED, PER_TARGET = 86909000, 160, 20, 3
# Items added to the KB after the set was written (the sample was drawn from the codes of that day).
ADDED_LATER = {"CG-019"}
CALLER_STYLES = ("plain", "colloquial", "longwinded", "asr", "regional")
TOPICS = {
    "address", "hours", "lunch_duty", "early_late", "weekend", "citywide", "holidays", "self_service", "parking",
    "transport", "booking", "express", "tolerance", "online", "door_to_door", "sample_form", "bundles", "queue",
    "help_desk", "complaints", "hotline", "floors",
}
KEYS = {"q", "item", "item_alt", "aspect", "aspect_alt", "style", "split", "topic", "list", "alternatives", "near_miss"}


@pytest.fixture(scope="module")
def kb():
    return load_dir(default_data_dir())


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return load_corpus(HELDOUT)


def _sample(codes: list[str], n: int) -> list[str]:
    shuffled = sorted(codes)
    random.Random(SEED).shuffle(shuffled)
    return shuffled[:n]


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_a_yaml_list_with_the_header(name: str) -> None:
    text = (HELDOUT / name).read_text(encoding="utf-8")
    assert text.startswith(HEADER), name
    data = yaml.safe_load(text)
    assert isinstance(data, list) and data, name
    assert all(isinstance(e, dict) and set(e) <= KEYS for e in data), name


def test_every_entry_is_held_out(cases: list[dict]) -> None:
    assert cases and corpus_split(cases, "held") == cases


def test_labels_are_in_the_vocabularies(cases: list[dict], kb) -> None:
    codes = {i.code for i in kb.items()} | {b.code for b in kb.bundles}
    for c in cases:
        q, item, aspect, style = c["q"], c["item"], c["aspect"], c["style"]
        assert isinstance(q, str) and q.strip() == q and q and "\n" not in q, c
        assert aspect in ASPECTS, c
        assert c.get("aspect_alt", "general") in ASPECTS and c.get("aspect_alt") != aspect, c  # only where they differ
        alt = c.get("item_alt", [])  # other answers the second annotator found right; never the first label
        assert isinstance(alt, list) and set(alt) <= codes | {"CENTRE"} and item not in alt, c
        if item is None:
            assert (aspect, style) == ("none", "oos"), c
        elif item == "CENTRE":
            assert style == "centre" and c["topic"] in TOPICS, c
            assert aspect != "none" and (aspect == "general" or not c.get("list")), c
        elif item == "AMBIGUOUS":
            assert len(c["alternatives"]) >= 2 and set(c["alternatives"]) <= codes, c
        else:
            assert item in codes, c
            assert style in CALLER_STYLES and aspect != "none", c
        assert ("topic" in c) == (item == "CENTRE"), c


def test_targets_are_the_seeded_sample(cases: list[dict], kb) -> None:
    """Three questions for each of the first 160 item codes and first 20 bundle codes of the seeded shuffle, each
    question in a different style, at most one mis-heard (asr) question per target, and no other targets."""
    by_target: dict[str, list[dict]] = {}
    for c in cases:
        if c["item"] not in (None, "CENTRE", "AMBIGUOUS"):
            by_target.setdefault(c["item"], []).append(c)
    wanted = set(_sample([i.code for i in kb.items() if i.code not in ADDED_LATER], ITEMS_SAMPLED)) | set(
        _sample([b.code for b in kb.bundles], BUNDLES_SAMPLED))
    assert set(by_target) == wanted
    for code, rows in by_target.items():
        assert len(rows) == PER_TARGET, code
        styles = Counter(r["style"] for r in rows)
        assert len(styles) == PER_TARGET and styles["asr"] <= 1, code


def test_questions_are_unique_and_new(cases: list[dict]) -> None:
    questions = [c["q"] for c in cases]
    assert len(set(questions)) == len(questions)
    corpus = {c["q"] for c in load_corpus(CORPUS)}
    assert corpus, "the project corpus is missing"
    assert not [q for q in questions if q in corpus]


def test_counts(cases: list[dict]) -> None:
    kinds = Counter("oos" if c["item"] is None else "centre" if c["item"] == "CENTRE" else "in_scope" for c in cases)
    assert kinds["in_scope"] >= 480 and kinds["centre"] >= 60 and kinds["oos"] >= 90, kinds
    centre = [c for c in cases if c["item"] == "CENTRE"]
    assert sum(bool(c.get("list")) for c in centre) >= 20
    assert sum(bool(c.get("near_miss")) for c in cases if c["item"] is None) >= 25
