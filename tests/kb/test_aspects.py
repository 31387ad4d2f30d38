"""The aspect labelling rule (documented at the top of tests/kb/questions.yaml) as the classifier applies it."""

import pytest

from kb.aspects import NAME_MASK, classify, classify_question
from kb.qa import QAEngine, last_clause


@pytest.mark.parametrize(("question", "aspect"), [
    ("老年卡怎么办", "process"), ("临时身份证怎么弄", "process"), ("孩子转学要办什么手续", "general"),
    ("开书店要办什么证", "general"), ("我妈六十岁了能办" + NAME_MASK + "吗", "conditions"),
    ("房贷还清了怎么" + NAME_MASK, "process"), ("网上能办吗", "online"), ("能寄到家里吗", "express"),
    ("换身份证可以提前预约吗", "booking"),
])
def test_one_rule_for_how_and_may(question: str, aspect: str) -> None:
    assert classify(question)[0] == aspect


def test_the_asking_clause_decides() -> None:
    question = "喂，你好，我家里条件比较困难，想问问低保要怎么申请"
    assert classify(question.replace("，", ""))[0] == "conditions"  # the story's 条件 would win
    assert last_clause(question) == "想问问低保要怎么申请"
    assert classify_question(question, last_clause(question))[0] == "process"


def test_item_words_are_not_cues(engine: QAEngine) -> None:
    assert engine.answer("复印材料要钱吗").aspect == "fee"


def test_item_heard_by_sound_is_masked_by_sound(engine: QAEngine) -> None:
    answer = engine.answer("港澳钱注怎么办")  # 钱 belongs to the misheard 签注, it asks no fee
    assert (answer.item_code, answer.aspect) == ("GA-011", "process")
