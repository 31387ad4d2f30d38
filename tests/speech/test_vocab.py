"""Dialog-state vocabularies: found again in the hints, and sound-alike replies written as the flow's words."""

from __future__ import annotations

import pytest

from ivr.booking.phrases import digits_in
from ivr.flow import yes_or_no
from speech.vocab import DATE, DIGITS, YES_NO, rest_of, vocabulary_in


def test_a_vocabulary_is_found_at_the_front_of_the_hints_and_nowhere_else():
    kb_terms = ("狗证", "市民卡")
    assert vocabulary_in((*YES_NO.phrases, *kb_terms)) is YES_NO
    assert vocabulary_in((*DATE.phrases, *kb_terms)) is DATE
    assert vocabulary_in(DIGITS.phrases) is DIGITS
    assert vocabulary_in(kb_terms) is None
    assert vocabulary_in((*kb_terms, *YES_NO.phrases)) is None  # only a leading vocabulary counts
    assert vocabulary_in(("是", "不是", *kb_terms)) is None  # the old closed list is not a vocabulary
    assert rest_of((*YES_NO.phrases, *kb_terms), YES_NO) == kb_terms


@pytest.mark.parametrize(("heard", "meant"), [("事的", True), ("不适", False), ("是的", True), ("不用了", False)])
def test_sound_alike_yes_no_replies_snap_to_the_phrase(heard, meant):
    assert yes_or_no(YES_NO.snap(heard)) is meant


@pytest.mark.parametrize("heard", ["我想问一下户口迁移", "狗证怎么办", "谢谢"])
def test_a_new_question_is_left_alone(heard):
    assert YES_NO.snap(heard) == heard


def test_digits_written_as_homophones_become_digits():
    assert digits_in(DIGITS.snap("要三八衣二山四五留期把")) == "13812345678"
    assert DIGITS.snap("我要问狗证") == "我要问狗证"  # not a number: unchanged


@pytest.mark.parametrize(("heard", "fixed"), [("星期四上午就点半", "星期四上午九点半"), ("下周思", "下周四"),
                                              ("明天上午", "明天上午"), ("有点急", "有点急")])
def test_numerals_in_dates_are_fixed_by_sound(heard, fixed):
    assert DATE.snap(heard) == fixed


def test_covers_tells_an_expected_reply_from_a_question():
    assert YES_NO.covers("对的") and not YES_NO.covers("护照怎么办")
    assert DATE.covers("下周二上午") and not DATE.covers("公积金提取")
    assert DIGITS.covers("一三八一二三四") and not DIGITS.covers("一下")
