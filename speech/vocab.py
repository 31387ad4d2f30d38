"""What a caller is expected to say in a dialog state (yes/no, a date, digits), as recogniser hints.

The call flow puts a state's phrases at the front of a `Listen`'s hints (``Listen(..., hints=YES_NO.phrases)``);
the IVR session appends the knowledge base's terms behind them. A recogniser finds the vocabulary again with
`vocabulary_in(hints)` (the hints start with its phrases), so the state travels with the hints and nothing else
in the pipeline has to change:

- Whisper puts the phrases into the first pass's prompt (the KB's terms are still used to refine a reply that
  turns out to be a new question) and skips the KB refinement when the reply is one the state expects;
- every recogniser may `snap` a short reply that sounds like a phrase but was written with other characters
  ("事的" -> "是的", "要三八" -> "幺三八"), so the flow's parsers (yes/no, dates, digits) see the words they know.

Callers still say anything (a new question while being asked to confirm): vocabularies bias, they never force.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import lazy_pinyin
from rapidfuzz import fuzz

from speech.hints import sound_key

_HAN = re.compile(r"[\u4e00-\u9fff]")
_PUNCT = re.compile(r"[\s，。！？、,.!?；;：:…~～]+")

# Characters Whisper writes for spoken digits in a digits state (homophones on an 8 kHz line), and the digit.
_DIGIT_SOUNDS = {
    "零": "零", "林": "零", "玲": "零", "〇": "零", "幺": "幺", "要": "幺", "妖": "幺", "腰": "幺", "一": "一",
    "衣": "一", "医": "一", "依": "一", "二": "二", "而": "二", "儿": "二", "两": "两", "三": "三", "山": "三",
    "衫": "三", "四": "四", "是": "四", "寺": "四", "似": "四", "死": "四", "五": "五", "舞": "五", "无": "五",
    "午": "五", "吴": "五", "六": "六", "留": "六", "流": "六", "溜": "六", "七": "七", "期": "七", "起": "七",
    "其": "七", "八": "八", "把": "八", "吧": "八", "巴": "八", "九": "九", "酒": "九", "就": "九", "久": "九",
}  # fmt: skip
_DIGIT_CHARS = set("零〇幺一二两三四五六七八九0123456789")
# In a date, a character next to 点/号/月 (after it: 半) or after 周/星期/礼拜 that sounds exactly like a numeral
# (or 日/天) is that numeral: "就点半" -> "九点半", "星期思" -> "星期四".
_NUMERALS = "一二两三四五六七八九十日天"
_DATE_SLOT = re.compile(r"(?<=周|期|拜)(.)|(.)(?=点|号|月)")


@dataclass(frozen=True)
class Vocabulary:
    """One dialog state's expected replies. ``phrases`` go in front of the Listen hints, in this order."""

    name: str
    phrases: tuple[str, ...]
    keywords: tuple[str, ...]  # a reply containing one of these is what the state expects

    def covers(self, text: str) -> bool:
        """Is ``text`` a reply this state expects (not a new question)?"""
        t = _PUNCT.sub("", text)
        if not t:
            return False
        if self.name == "digits":
            return sum(ch in _DIGIT_CHARS for ch in t) >= max(3, len(t) * 0.6)
        return any(k in t for k in self.keywords)

    def snap(self, text: str) -> str:
        """A short reply that sounds like one of the phrases, written as the phrase; anything else unchanged."""
        t = _PUNCT.sub("", text)
        if self.name == "date":
            return _date_numerals(text)  # dates are mostly heard as dates: fix their numbers in place
        if not t or self.covers(t):
            return text
        if self.name == "digits":
            mapped = "".join(_DIGIT_SOUNDS.get(ch, ch) for ch in t)
            return mapped if self.covers(mapped) else text
        if self.name == "date":
            return _date_numerals(text)
        if len(t) > 6 or not _HAN.search(t):
            return text  # a sentence: maybe a new question, leave it to the knowledge base
        key = sound_key(t)
        best, score = None, 0.0
        for phrase in self.phrases:
            s = fuzz.ratio(key, sound_key(phrase))
            if s > score:
                best, score = phrase, s
        return best if best is not None and score >= 80 else text


@lru_cache(maxsize=1)
def _numeral_by_sound() -> dict[str, str]:
    return {lazy_pinyin(n)[0]: n for n in _NUMERALS if n != "两"} | {"liang": "两"}


def _date_numerals(text: str) -> str:
    by_sound = _numeral_by_sound()

    def fix(m: re.Match) -> str:
        ch = m.group(0)
        if ch in _NUMERALS or not _HAN.match(ch):
            return ch
        return by_sound.get(lazy_pinyin(ch)[0], ch)

    return _DATE_SLOT.sub(fix, text)


YES_NO = Vocabulary(
    "yes_no",
    phrases=("是的", "不是", "嗯，对的", "不对", "好的", "可以", "不用", "不需要", "没错"),
    keywords=("是", "对", "好", "可以", "不用", "不要", "需要", "没错", "嗯", "行", "确认", "错"),
)
DATE = Vocabulary(
    "date",
    phrases=("今天", "明天", "后天", "下周一", "周二", "周三", "周四", "周五", "上午", "下午", "九点半", "号"),
    keywords=("今天", "明天", "后天", "周", "星期", "礼拜", "上午", "下午", "早上", "中午", "点", "号", "月", "最早",
              "尽快"),
)
DIGITS = Vocabulary("digits", phrases=("幺三八", "零五七一", "八六九零九零零零"), keywords=())

VOCABULARIES = (YES_NO, DATE, DIGITS)


def vocabulary_in(hints: Sequence[str]) -> Vocabulary | None:
    """The state vocabulary the hints start with (see the module doc), or None."""
    head = tuple(hints[: max(len(v.phrases) for v in VOCABULARIES)])
    for v in VOCABULARIES:
        if head[: len(v.phrases)] == v.phrases:
            return v
    return None


def rest_of(hints: Sequence[str], vocabulary: Vocabulary | None) -> tuple[str, ...]:
    """The hints behind the state vocabulary (the knowledge base's terms)."""
    return tuple(hints[len(vocabulary.phrases) :]) if vocabulary else tuple(hints)
