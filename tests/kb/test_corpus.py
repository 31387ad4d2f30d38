"""The caller-question corpus (tests/kb/corpus/*.yaml): it parses, its labels are in the vocabularies, every
code it names is in the KB, every item and bundle has enough varied questions, and the tune/held split follows
the sha1 rule it was written with (so nobody can move a question between the halves later)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from kb.schema import KnowledgeBase

CORPUS_DIR = Path(__file__).parent / "corpus"

ASPECTS = set(
    [
        "materials",
        "location",
        "hours",
        "time_limit",
        "fee",
        "process",
        "conditions",
        "online",
        "express",
        "booking",
        "weekend",
        "tolerance",
        "sample_form",
        "door_to_door",
        "general",
    ]
)
ITEM_STYLES = {"plain", "colloquial", "longwinded", "asr", "regional"}
TOPICS = set(
    [
        "address",
        "hours",
        "lunch_duty",
        "early_late",
        "weekend",
        "citywide",
        "holidays",
        "self_service",
        "parking",
        "transport",
        "booking",
        "express",
        "tolerance",
        "online",
        "door_to_door",
        "sample_form",
        "bundles",
        "queue",
        "help_desk",
        "complaints",
        "hotline",
        "floors",
    ]
)
REQUIRED = {"q", "item", "aspect", "style", "split"}
OPTIONAL = {"alternatives", "topic", "list"}
MIN_PER_CODE = 8
# Strings of an outside held-out set; the corpus must not contain them.
FORBIDDEN = set(
    [
        "中午休息吗可以去办事吗",
        "晚上有没有能自助办理的地方",
        "证件办好了能寄到家里吗",
        "材料不全能先受理吗",
        "我家狗要办证，需要带什么东西",
        "犬证一年要交多少钱",
        "我想办一下那个养狗的那个证",
        "营业只照怎么办",
        "生了孩子要办哪些证",
    ]
)


def expected_split(q: str) -> str:
    return "held" if int(hashlib.sha1(q.encode("utf-8")).hexdigest(), 16) % 3 == 0 else "tune"


def _files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.yaml"))


def _load() -> list[tuple[str, dict]]:
    entries: list[tuple[str, dict]] = []
    for path in _files():
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            entries.append((path.name, entry))
    return entries


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, dict]]:
    return _load()


def _kb_codes(kb: KnowledgeBase) -> tuple[set[str], set[str]]:
    items = {item.code for dept in kb.departments for item in dept.items}
    return items, {b.code for b in kb.bundles}


def test_every_file_parses_as_a_list_of_entries() -> None:
    assert _files(), "no corpus files"
    for path in _files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, list) and data, f"{path.name}: not a non-empty YAML list"
        for n, entry in enumerate(data):
            assert isinstance(entry, dict), f"{path.name}[{n}]: not a mapping"
            keys = set(entry)
            assert keys >= REQUIRED, f"{path.name}[{n}]: missing {sorted(REQUIRED - keys)}"
            assert keys <= REQUIRED | OPTIONAL, f"{path.name}[{n}]: unknown {sorted(keys - REQUIRED - OPTIONAL)}"
            assert isinstance(entry["q"], str) and entry["q"].strip() == entry["q"] and entry["q"], (
                f"{path.name}[{n}]: empty or padded question"
            )


def test_labels_are_in_the_vocabularies(corpus: list[tuple[str, dict]]) -> None:
    bad: list[str] = []
    for name, e in corpus:
        item, aspect, style = e["item"], e["aspect"], e["style"]
        where = f"{name}: {e['q']}"
        if item is None:  # out of scope
            if (aspect, style) != ("none", "oos") or set(e) - REQUIRED:
                bad.append(f"{where}: out-of-scope entries are aspect none, style oos, nothing else")
        elif item == "CENTRE":
            if style != "centre" or aspect not in ASPECTS or e.get("topic") not in TOPICS:
                bad.append(f"{where}: centre entry needs style centre, a known aspect and topic")
            if "list" in e and (e["list"] is not True or aspect != "general"):
                bad.append(f"{where}: list is only `true`, and list questions are aspect general")
            if "alternatives" in e:
                bad.append(f"{where}: centre entry with alternatives")
        else:
            if style not in ITEM_STYLES or aspect not in ASPECTS:
                bad.append(f"{where}: style {style!r} / aspect {aspect!r} not in the vocabulary")
            if "topic" in e or "list" in e:
                bad.append(f"{where}: topic/list belong to centre entries only")
            alts = e.get("alternatives")
            if item == "AMBIGUOUS":
                if not isinstance(alts, list) or len(set(alts)) < 2:
                    bad.append(f"{where}: AMBIGUOUS needs alternatives with two or more codes")
            elif alts is not None:
                bad.append(f"{where}: alternatives only on AMBIGUOUS entries")
        if e["q"] in FORBIDDEN:
            bad.append(f"{where}: string of the outside held-out set")
    assert not bad, "\n".join(bad)


def test_every_code_exists_in_the_kb(corpus: list[tuple[str, dict]], real_kb: KnowledgeBase) -> None:
    items, bundles = _kb_codes(real_kb)
    named: set[str] = set()
    for _, e in corpus:
        if e["item"] not in (None, "CENTRE", "AMBIGUOUS"):
            named.add(e["item"])
        named.update(e.get("alternatives") or [])
    missing = sorted(named - items - bundles)
    assert not missing, f"{len(missing)} codes not in kb/data: {missing}"


def test_every_code_has_enough_questions_in_all_styles(corpus: list[tuple[str, dict]]) -> None:
    by_code: dict[str, list[dict]] = defaultdict(list)
    for _, e in corpus:
        if e["item"] not in (None, "CENTRE", "AMBIGUOUS"):
            by_code[e["item"]].append(e)
    bad: list[str] = []
    for code, entries in sorted(by_code.items()):
        styles = Counter(e["style"] for e in entries)
        if len(entries) < MIN_PER_CODE:
            bad.append(f"{code}: {len(entries)} questions (< {MIN_PER_CODE})")
        if set(styles) != ITEM_STYLES:
            bad.append(f"{code}: styles missing {sorted(ITEM_STYLES - set(styles))}")
        # Misheard questions at most a quarter of an item's, rounded up (two while it has eight or fewer): later
        # writers add one question per item, sometimes an asr one, without tilting any item towards asr.
        most_asr = max(2, -(-len(entries) // 4))
        if not 1 <= styles["asr"] <= most_asr:
            bad.append(f"{code}: {styles['asr']} asr questions of {len(entries)} (want 1 to {most_asr})")
        if len({e["aspect"] for e in entries}) < 4:
            bad.append(f"{code}: fewer than four different aspects")
    assert not bad, "\n".join(bad)


def test_every_kb_item_and_bundle_is_covered(corpus: list[tuple[str, dict]], real_kb: KnowledgeBase) -> None:
    items, bundles = _kb_codes(real_kb)
    asked = Counter(e["item"] for _, e in corpus)
    uncovered = sorted(code for code in items | bundles if asked[code] < MIN_PER_CODE)
    assert not uncovered, f"{len(uncovered)} KB codes with fewer than {MIN_PER_CODE} questions: {uncovered}"


def test_splits_follow_the_sha1_rule(corpus: list[tuple[str, dict]]) -> None:
    wrong = [f"{name}: {e['q']}" for name, e in corpus if e["split"] != expected_split(e["q"])]
    assert not wrong, "\n".join(wrong)


def test_questions_are_unique_across_files(corpus: list[tuple[str, dict]]) -> None:
    where: dict[str, str] = {}
    dups: list[str] = []
    for name, e in corpus:
        if e["q"] in where:
            dups.append(f"{e['q']} ({where[e['q']]}, {name})")
        where.setdefault(e["q"], name)
    assert not dups, "\n".join(dups)


def test_out_of_scope_set_is_large_enough(corpus: list[tuple[str, dict]]) -> None:
    assert sum(1 for _, e in corpus if e["item"] is None) >= 60


def test_split_rule_keeps_about_a_third_held(corpus: list[tuple[str, dict]]) -> None:
    held = sum(1 for _, e in corpus if e["split"] == "held")
    assert 0.25 < held / len(corpus) < 0.42, f"{held} of {len(corpus)} held"
