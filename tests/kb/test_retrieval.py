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
