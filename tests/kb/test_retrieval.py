"""Phrase matching in kb.retrieval: scattered aliases in story-like questions, and one-syllable-off near hits."""

import pytest

from kb.qa import QAEngine
from kb.retrieval import near_hits, scattered
from kb.text import normalise, sound_key


def test_scattered_phrase_in_order_with_little_between() -> None:
    assert scattered(sound_key("市民卡丢了"), sound_key("我市民卡昨天坐公交的时候丢了"))
    assert scattered(sound_key("身份证到期"), sound_key("身份证下个月就到期了"))
    assert not scattered(sound_key("身份证到期"), sound_key("到期的身份证"))  # order matters
    assert not scattered(sound_key("市民卡丢了"), sound_key("市民卡" + "的" * 20 + "丢了"))  # too far apart
    assert not scattered(sound_key("补户口本"), sound_key("户口本要补"))


def test_near_hit_never_swaps_the_first_syllable(engine: QAEngine) -> None:
    key = sound_key(normalise("那要带户口本吗"))
    assert "GA-015" not in near_hits(engine.index, key)  # 带/补户口本 are different requests
    key = sound_key(normalise("挂失市民开"))  # 开/卡: one syllable off, not the first
    assert "SMK-002" in near_hits(engine.index, key)


@pytest.mark.parametrize(("heard", "code"), [
    ("口证要带什么", "GA-001"),  # k/g: aspirated for unaspirated
    ("序民卡丢了", "SMK-001"),  # x/sh and ü/i: one syllable, two mild confusions
])
def test_near_hit_absorbs_sound_alike_syllables(engine: QAEngine, heard: str, code: str) -> None:
    assert code in near_hits(engine.index, sound_key(normalise(heard)))


def test_near_hit_needs_the_rest_of_the_phrase(engine: QAEngine) -> None:
    # One matching syllable of a two-syllable alias is not a hit, however alike the other one sounds.
    hits = near_hits(engine.index, sound_key(normalise("今天天气怎么样")))
    assert not any(len(phrase) <= 2 for _, phrase in hits.values())


def test_story_question_finds_the_item(engine: QAEngine) -> None:
    answer = engine.answer("喂，你好，我想问一下啊，就是我那个身份证下个月就到期了，去换的话要带什么东西")
    assert (answer.item_code, answer.aspect) == ("GA-003", "materials")


def test_near_hit_needs_one_of_the_phrases_own_words(engine: QAEngine) -> None:
    # 失业了怎么办 (an alias of 失业一件事) is near "迟到了怎么办" only in its question words: no hit.
    assert "YJS-105" not in near_hits(engine.index, sound_key(normalise("预约迟到了怎么办")))
    assert engine.answer("预约迟到了怎么办").item_code == "CENTRE"


def test_item_named_in_the_asking_clause_beats_one_only_the_story_matches(engine: QAEngine) -> None:
    # 困难 (story) is in 困难人员参保资助; 低保 (asked) names 最低生活保障审核确认.
    answer = engine.answer("喂，你好，我家里条件比较困难，想问问低保要怎么申请")
    assert (answer.item_code, answer.aspect) == ("MZ-001", "process")
    # One clause: no asking clause to favour, the better-covered item stays first (房产继承 ~ 继承房产).
    assert engine.answer("继承房产过户要多久").item_code == "BDC-007"


@pytest.mark.parametrize(("question", "code"), [
    ("就是，第一次办市民卡要带什么", "SMK-003"),  # 第一次 is a first issue, not "一次办" (together)
    ("请问一下，我们家老人今年刚满六十，老年卡要到哪个窗口去办", "SMK-004"),  # not 老年人优待一件事
])
def test_member_item_over_its_bundle_when_one_thing_is_asked(engine: QAEngine, question: str, code: str) -> None:
    assert engine.answer(question).item_code == code
