"""The centre's 四全 services as answerable topics: counts follow the item flags, list answers stay short, item
questions about those services get the item's own fact (issue 11)."""

from __future__ import annotations

import copy
import re

import pytest

from kb.centre import EXAMPLES, NARROW, TOPICS, centre_answer, most_asked, spoken_name, topic_named
from kb.compose import item_answer
from kb.qa import QAEngine
from kb.schema import KnowledgeBase

TOPIC = {t.name: t for t in TOPICS}


def _count(answer: str) -> int:
    found = re.search(r"有(\d+)项", answer)
    assert found, answer
    return int(found.group(1))


@pytest.mark.parametrize(("name", "flag"), [
    ("weekend", lambda i: i.weekend), ("citywide", lambda i: i.citywide),
    ("express", lambda i: any(d.startswith("express") for d in i.delivery)),
    ("tolerance", lambda i: i.tolerance.allowed), ("online", lambda i: i.online.full),
    ("sample_form", lambda i: i.sample_form),
])
def test_list_answers_count_the_flagged_items(real_kb: KnowledgeBase, name: str, flag) -> None:
    members = [i for i in real_kb.items() if flag(i)]
    if not members:
        pytest.skip(f"no item flagged for {name} in this KB")
    answer = centre_answer(real_kb, TOPIC[name], "哪些能办")
    assert _count(answer) == len(members)
    assert answer.endswith(NARROW)
    # The examples are members, the most asked first, at most EXAMPLES of them.
    named = [spoken_name(i) for i in most_asked(real_kb, members)]
    said = [n for n in named if n in answer]
    assert 1 <= len(said) <= EXAMPLES and said[0] == named[0]


def test_counts_follow_the_data_not_the_text(real_kb: KnowledgeBase) -> None:
    kb = copy.deepcopy(real_kb)
    before = _count(centre_answer(kb, TOPIC["weekend"], "周末能办哪些"))
    flipped = next(i for i in kb.items() if not i.weekend)
    flipped.weekend = True
    assert _count(centre_answer(kb, TOPIC["weekend"], "周末能办哪些")) == before + 1


def test_door_to_door_count(real_kb: KnowledgeBase) -> None:
    kb = copy.deepcopy(real_kb)
    for item in kb.items()[:3]:
        item.door_to_door = True
    answer = centre_answer(kb, TOPIC["door_to_door"], "哪些能上门办")
    assert _count(answer) == sum(i.door_to_door for i in kb.items())


@pytest.mark.parametrize(("question", "aspect"), [
    ("双休日你们能办哪些业务", "general"), ("有哪些事可以容缺受理", "general"), ("自助机都能办些什么", "general"),
    ("办好的证件能不能快递到家", "express"), ("缺一样材料可以先受理吗", "tolerance"), ("你们中午有人值班吗", "hours"),
    ("下班以后还能去办吗", "hours"), ("一件事都有哪些", "general"), ("哪些事项能全程网办", "general"),
    ("现在去大概要排多久", "process"),
])
def test_centre_service_questions(engine: QAEngine, question: str, aspect: str) -> None:
    answer = engine.answer(question)
    assert (answer.item_code, answer.aspect) == ("CENTRE", aspect), answer
    assert not answer.abstained and len(answer.answer) <= 160


@pytest.mark.parametrize("question", ["像开饭店这样的一件事还有哪些", "有哪些一件事可以办，比如开饭店"])
def test_a_bundle_named_as_an_example_of_the_list_gets_the_list(engine: QAEngine, real_kb: KnowledgeBase,
                                                                 question: str) -> None:
    answer = engine.answer(question)
    assert answer.item_code == "CENTRE" and f"一共有{len(real_kb.bundles)}个一件事" in answer.answer, answer


@pytest.mark.parametrize(("question", "aspect"), [("像开饭店这样的一件事要带哪些材料", "materials"),
                                                  ("开饭店一件事有哪些材料", "materials")])
def test_a_bundle_asked_about_stays_that_bundle(engine: QAEngine, question: str, aspect: str) -> None:
    answer = engine.answer(question)
    assert (answer.item_code, answer.aspect) == ("YJS-001", aspect), answer


def test_self_service_area_facts(engine: QAEngine, real_kb: KnowledgeBase) -> None:
    answer = engine.answer("二十四小时自助机能办啥")
    tasks = real_kb.centre["self_service_tasks"]
    assert answer.item_code == "CENTRE" and f"能办{len(tasks)}件事" in answer.answer
    assert len(tasks) >= 20 and "十五台" in "".join(real_kb.centre["self_service_machines"])


@pytest.mark.parametrize(("question", "code", "aspect"), [
    ("狗证礼拜六能办吗", "GA-001", "weekend"), ("换身份证材料没带齐能先受理吗", "GA-003", "tolerance"),
    ("开公司的申请表样表在哪下载", "SC-001", "sample_form"), ("残疾证能上门办吗", "CL-001", "door_to_door"),
])
def test_item_questions_about_services_get_item_answers(engine: QAEngine, question: str, code: str,
                                                       aspect: str) -> None:
    answer = engine.answer(question)
    assert (answer.item_code, answer.aspect) == (code, aspect), answer
    assert answer.item_name in answer.answer


def test_item_service_answers_follow_the_flags(real_kb: KnowledgeBase) -> None:
    item = copy.deepcopy(real_kb.item("GA-001"))
    item.weekend, item.citywide = True, True
    assert "周末也能办" in item_answer(real_kb, item, "weekend") and "全城通办" in item_answer(real_kb, item, "weekend")
    item.weekend = False
    assert "周末不办理" in item_answer(real_kb, item, "weekend")
    item.tolerance.allowed, item.tolerance.later_materials = True, [item.materials[-1].name]
    assert item.materials[-1].name in item_answer(real_kb, item, "tolerance")
    item.tolerance.allowed = False
    assert "不能容缺" in item_answer(real_kb, item, "tolerance")
    item.door_to_door = True
    assert "可以上门" in item_answer(real_kb, item, "door_to_door")
    item.sample_form = False
    assert "没有单独的样表" in item_answer(real_kb, item, "sample_form")


@pytest.mark.parametrize("question", ["身份证国庆前能办好吗", "居民身份证中秋前能办好吗"])
def test_an_item_thing_said_with_a_holiday_is_not_the_centre_hours(engine: QAEngine, question: str) -> None:
    """国庆/中秋 is an hours cue, but the caller names what the item is about (身份证): not the centre's hours."""
    assert engine.answer(question).item_code != "CENTRE"


def test_a_topic_is_found_by_its_name_before_another_topic_s_key() -> None:
    """Corpus labels name topics (kb_train_ranker keeps them with the exemplars): by name first, then by key."""
    assert topic_named("address").name == "address"  # (also one of transport's centre.yaml keys)
    assert topic_named("lunch_duty").name == "lunch" and topic_named("no-such-topic") is None


def _fact(kb: KnowledgeBase, key: str, word: str) -> str:
    """The one centre.yaml fact under ``key`` that says ``word``, as the answer speaks it."""
    facts = [f for f in kb.centre[key] if word in f]
    assert len(facts) == 1, facts
    return facts[0] if facts[0].endswith("。") else facts[0] + "。"


@pytest.mark.parametrize(("question", "key", "word", "aspect"), [
    ("上门来办要收钱吗", "door_to_door", "费用", "fee"),  # the topic's second fact
    ("寄证件要钱吗", "express", "免费", "fee"),
    ("约好的号迟到了还算数吗", "booking", "迟到", "booking"),  # the fourth: beyond the three said in file order
    ("取消预约怎么弄", "booking", "取消", "booking"),  # 取消 tells one fact; 预约, in five, tells none
])
def test_centre_answer_leads_with_the_fact_asked(engine: QAEngine, real_kb: KnowledgeBase, question: str, key: str,
                                               word: str, aspect: str) -> None:
    answer = engine.answer(question)
    assert (answer.item_code, answer.aspect) == ("CENTRE", aspect), answer
    assert answer.answer.startswith(_fact(real_kb, key, word)), answer.answer


def test_centre_aspect_stays_the_topics_when_its_facts_do_not_say_it(engine: QAEngine) -> None:
    # Asked the fee of parking, the parking fact (前两小时免费) answers it; asked where the hotline's agents sit,
    # its facts say nothing of a place: the topic's own aspect, not a claim the answer does not back.
    assert engine.answer("你们中心停车要收钱吗").aspect == "fee"
    answer = engine.answer("你们热线的人工在哪里")
    assert (answer.item_code, answer.aspect) == ("CENTRE", "hours"), answer
