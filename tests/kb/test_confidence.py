"""The calibrated confidence: its features, the off-topic cues, and that the fitted model orders cases sensibly."""

import dataclasses

import pytest

from kb.confidence import WEIGHTS, Features, longest_run_share, off_topic, probability
from kb.qa import QAEngine
from kb.text import sound_key


def test_longest_run_share_needs_three_syllables() -> None:
    phrases = [sound_key("二手车过户"), sound_key("节能审查")]
    assert longest_run_share(sound_key("二手车能卖多少钱"), phrases) == pytest.approx(0.6)
    assert longest_run_share(sound_key("网上能不能申请"), phrases) == 0.0  # 能申~能审: two syllables say nothing
    assert longest_run_share(sound_key("二手车过户要什么"), phrases) == 1.0


@pytest.mark.parametrize(("text", "expected"), [
    ("明天会下雨吗", True), ("帮我查下快递到哪了", True), ("二手车能卖多少钱", True),
    ("我老婆刚生完孩子给宝宝上户口", False), ("狗证办好了能寄到家里吗", False), ("换身份证要多少钱", False),
])
def test_off_topic_cues(text: str, expected: bool) -> None:
    assert off_topic(text) is expected


def test_model_is_fitted_and_monotone() -> None:
    assert any(WEIGHTS), "run benchmarks/kb_fit.py --write"
    base = Features(phrase=0.0, partial=0.0, coverage=0.6, mass=1.0, unexplained=0.5, margin=0.3, service=1.0,
                    off_topic=0.0, by_sound=0.0, clause=0.3)
    assert probability(dataclasses.replace(base, phrase=1.0, partial=1.0)) > probability(base)
    # A name heard only by sound is weaker evidence than the same name in the very characters.
    assert probability(dataclasses.replace(base, phrase=0.9, partial=0.9, by_sound=1.0)) < probability(
        dataclasses.replace(base, phrase=1.0, partial=1.0))
    assert probability(dataclasses.replace(base, off_topic=1.0)) < probability(base)
    # (fitted with its sign fixed: it may come out 0 when other features carry the same evidence)
    assert probability(dataclasses.replace(base, unexplained=2.0)) <= probability(base)
    # A story-like question whose one clause the target explains whole is likelier the target's.
    assert probability(dataclasses.replace(base, clause=1.0)) > probability(base)
    assert 0.0 <= probability(base) <= 1.0


def test_named_question_is_confident_and_unrelated_one_is_not(real_kb) -> None:
    engine = QAEngine.from_kb(real_kb)  # the rule engine, whose threshold is on this model's scale
    _, named = engine.assess("公积金提取要带什么材料")
    _, unrelated = engine.assess("我要投诉出租车司机绕路")
    assert named is not None and unrelated is not None
    assert probability(named) >= engine.thresholds.abstain > probability(unrelated)


def test_clause_fit_counts_the_clause_that_names_the_item(engine: QAEngine) -> None:
    # The story clauses are not the item's words; the asking clause is, so the clause fit is high while the
    # whole question's coverage is not.
    _, story = engine.assess("我家里条件比较困难，房子也是租的，想问问低保要怎么申请")
    assert story is not None
    assert story.clause > story.coverage * story.mass
    _, unrelated = engine.assess("我车停在路边被拖走了，去哪里取车")
    assert unrelated is not None and unrelated.clause < story.clause
