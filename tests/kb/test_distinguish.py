"""Robustness as a mechanism (issue 11): spoken fillers and regional words, operations that decide between
sibling items, and a clarifying question only when the question does not tell two targets apart."""

from __future__ import annotations

import pytest

from kb.distinguish import decide, together
from kb.operations import marked_operations, said_operations, siblings, thing
from kb.qa import QAEngine
from kb.text import normalise


@pytest.mark.parametrize(("said", "meant"), [
    ("嗯，那个，我想问一下那个市民卡咋整", "市民卡怎么办"), ("侬晓得狗证要几钿伐？", "你知道狗证要多少钱吗"),
    ("低保好申请伐", "低保能申请吗"), ("换身份证要钞票伐", "换身份证要钱吗"), ("城市树木砍伐要啥材料", "城市树木砍伐要什么材料"),
    ("呃，公积金，啊，怎么取", "公积金怎么取"), ("我老婆上个月生了个女儿", "我老婆上个月孩子出生"),
])
def test_normalise_spoken_and_regional(said: str, meant: str) -> None:
    assert normalise(said) == meant


@pytest.mark.parametrize(("text", "ops"), [
    ("狗证年检要带什么", {"renew"}), ("执照丢了怎么补", {"replace"}), ("公司改个名字", {"change"}),
    ("个体户不干了", {"cancel"}), ("我要办护照", {"create"}), ("身份证丢了去哪办", {"replace"}),
    ("特种设备注消", {"cancel"}),  # heard, not written
    ("解押周末能办吗", {"cancel"}), ("车辆解除抵押", {"cancel"}),
    ("补贴怎么申请", set()), ("狗证怎么办", set()),
])
def test_operations_said(text: str, ops: set[str]) -> None:
    assert said_operations(text) == frozenset(ops)


def test_items_mark_their_operation_and_siblings_share_their_thing() -> None:
    assert marked_operations("养犬登记证年检", ["狗证年检", "犬证年检"]) == {"renew"}
    assert marked_operations("养犬登记证核发", ["狗证", "犬证"]) == frozenset()
    assert siblings("农民专业合作社设立登记", "农民专业合作社注销登记")
    assert not siblings("城市树木迁移砍伐审批", "农用地转用审查")
    assert thing("老年卡办理") == thing("老年卡年审") == "老年卡"  # 办理 is generic, not the operation 办 + 理


def test_together_words() -> None:
    assert together("开饭店要办哪些手续") and together("能不能一起办")
    assert not together("开饭店要带什么材料") and not together("第一次办市民卡要带什么")
    assert together("后事一见事包括哪些")  # 一件事 as a recogniser writes it


@pytest.mark.parametrize(("question", "code"), [
    ("我家的狗想办个证要准备啥", "GA-001"),  # 办证 with no 年检: the first issue, not the annual check
    ("狗证一年一次的年检要带什么", "GA-002"),
    ("身份证过期了要换，带什么", "GA-003"), ("身份证弄丢了，补一张要带什么", "GA-004"),
])
def test_the_question_decides_no_clarification(engine: QAEngine, question: str, code: str) -> None:
    answer = engine.answer(question)
    assert answer.item_code == code and not answer.clarify, answer


def test_clarify_only_when_nothing_distinguishes(engine: QAEngine) -> None:
    answer = engine.answer("我身份证要重新办一张，要带什么")  # renew or replace: the caller did not say
    assert answer.clarify and {a.item_code for a in answer.alternatives} == {"GA-003", "GA-004"}
    assert decide(engine.index, normalise("身份证过期了"), "GA-003", "GA-004") == "GA-003"
    assert decide(engine.index, normalise("身份证要重新办"), "GA-003", "GA-004") is None


def test_life_event_goes_to_the_bundle(engine: QAEngine, real_kb) -> None:
    newborn = next(b for b in real_kb.bundles if "出生" in b.name)
    answer = engine.answer("家里刚添了个宝宝，要办哪些证")
    assert answer.item_code == newborn.code, answer
    assert engine.answer("开饭店要一起办哪些手续").item_code in {b.code for b in real_kb.bundles}


@pytest.mark.parametrize(("question", "a", "b", "code"), [
    ("执照丢了补一张要钱吗", "SC-007", "GA-024", "SC-007"),  # 执照 is in no name of 居住证补领换领
    ("解押要不要交钱的", "JJ-012", "BDC-004", "BDC-004"),  # 解押 is BDC-004's own word; 车辆解押 not said
])
def test_decide_by_what_only_one_names(engine: QAEngine, question: str, a: str, b: str, code: str) -> None:
    assert decide(engine.index, question, a, b) == code
