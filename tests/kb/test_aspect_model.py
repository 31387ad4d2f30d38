"""The learned aspect classifier (kb.aspect_model): the committed model loads and reads plain questions right, the
engine callers get decides the aspect with it (the rule engine by the cues), a missing or foreign model file means
the rules, and training is deterministic. Cross-validated figures: benchmarks/kb_train_aspect.py --cv."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from kb.aspect_model import DENSE, HASH_BITS, LABELS, N_FEATURES, RULE_SCALE, AspectModel
from kb.aspects import NAME_MASK, classify_question
from kb.qa import QAEngine
from kb.schema import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]
M = NAME_MASK  # where the item's name was (QAEngine._aspect masks it before classifying)


def trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kb_train_aspect", ROOT / "benchmarks/kb_train_aspect.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model() -> AspectModel:
    loaded = AspectModel.load()
    assert loaded is not None, "run benchmarks/kb_train_aspect.py --write"
    return loaded


@pytest.mark.parametrize(("question", "aspect"), [
    (f"办{M}要带什么材料", "materials"), (f"{M}在哪里办", "location"), (f"{M}要多少钱", "fee"),
    (f"{M}几天能办好", "time_limit"), (f"{M}网上能办吗", "online"), (f"{M}办好了能寄到家里吗", "express"),
    (f"{M}怎么办理", "process"), (f"{M}需要什么条件", "conditions"), (f"办{M}要提前预约吗", "booking"),
    (f"周六能办{M}吗", "weekend"), (f"材料不齐{M}能先受理吗", "tolerance"), (f"{M}的申请表在哪下载", "sample_form"),
    (f"我妈瘫痪在床，{M}能上门办吗", "door_to_door"),
])
def test_the_model_reads_plain_questions(model: AspectModel, question: str, aspect: str) -> None:
    last = question.split("，")[-1]
    assert model.classify(question.replace("，", ""), last) == aspect


def test_a_missing_or_foreign_model_file_means_the_rules(tmp_path: Path) -> None:
    assert AspectModel.load(tmp_path / "missing.npz") is None
    foreign = tmp_path / "foreign.npz"  # fitted with other hashing: its weights would mean other n-grams
    np.savez(foreign, weights=np.zeros((8, len(LABELS))), bias=np.zeros(len(LABELS)), labels=np.array(LABELS),
             hash_bits=np.array(HASH_BITS + 1), dense=np.array(DENSE), rule_scale=np.array(RULE_SCALE))
    assert AspectModel.load(foreign) is None


def test_the_learned_engine_asks_the_model_and_the_rule_engine_the_cues(engine: QAEngine,
                                                                        real_kb: KnowledgeBase) -> None:
    # 准备些啥 is no cue phrase (准备什么/准备哪些 are), and the rules fall back to "general"; the model reads it.
    question = "公积金提取要准备些啥"
    rule_engine = QAEngine.from_kb(real_kb)
    assert engine.aspect_model is not None and rule_engine.aspect_model is None
    learned, rules = engine.answer(question), rule_engine.answer(question)
    assert learned.item_code == rules.item_code == "GJJ-001"
    assert learned.aspect == "materials"
    assert rules.aspect == classify_question(question, question)[0] != "materials"


def test_training_is_deterministic(real_kb: KnowledgeBase, tmp_path: Path) -> None:
    train = trainer()
    cases = train.tune_cases(ROOT / "tests/kb/corpus")[::25]  # a slice: ~130 questions
    texts = train.masked_texts(QAEngine.from_kb(real_kb), cases)
    x = train.design(texts)
    assert x.shape == (len(cases), N_FEATURES)
    y = np.array([LABELS.index(c["aspect"]) for c in cases])
    first, second = train.fit(x, y, 1.0), train.fit(x, y, 1.0)
    assert np.array_equal(first.weights, second.weights) and np.array_equal(first.bias, second.bias)
    assert (train.predict(first, x) == y).mean() > 0.9  # it learns its own examples
    first.save(tmp_path / "m.npz")
    stored = AspectModel.load(tmp_path / "m.npz")
    assert stored is not None
    assert [stored.classify(t, last) for t, last in texts] == [LABELS[i] for i in train.predict(first, x)]


def test_a_transcript_trains_and_folds_with_the_question_it_was_read_from() -> None:
    train = trainer()
    written = train.tune_cases(ROOT / "tests/kb/corpus")
    cases = train.tune_cases(ROOT / "tests/kb/corpus", ROOT / "tests/kb/asr_corpus_tune.yaml")
    heard = range(len(written), len(cases))
    assert len(heard) > 400 and all("source" in cases[i] for i in heard)
    at = {c["q"]: i for i, c in enumerate(written)}
    folds = train.random_folds(cases)
    assert all(cases[i]["group"] == written[at[cases[i]["source"]]]["group"] for i in heard)
    assert all(folds[i] == folds[at[cases[i]["source"]]] for i in heard)
    assert len(set(folds)) == train.FOLDS
