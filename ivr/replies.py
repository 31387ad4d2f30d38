"""What the caller's short replies mean in the call flow: yes or no, which of the offered items, cleaned text.

Pure functions over recognised text; the booking dialog has its own slot parsers (ivr/booking/phrases.py).
"""

from __future__ import annotations

import re

from ivr import prompts as P
from kb.api import Alternative

_PUNCT = re.compile(r"[\s，。！？、,.!?；;：:“”\"'…~～]+")
_ORDINALS = ("一", "二", "三", "四", "五")


def clean(text: str) -> str:
    """Without spaces and punctuation (what ASR adds varies)."""
    return _PUNCT.sub("", text)


def has_any(text: str, words: tuple[str, ...]) -> bool:
    """Does ``text`` contain any of ``words``?"""
    return any(w in text for w in words)


def yes_or_no(text: str) -> bool | None:
    """True/False for a short yes/no reply, None when the caller said something else (e.g. a new question)."""
    t = clean(text)
    if not t or len(t) > 6:
        return None
    if has_any(t, P.NO_WORDS):  # before yes: "不是" contains "是"
        return False
    if has_any(t, P.YES_WORDS):
        return True
    return None


_CHOICES = re.compile(r"是(.+?)还是(.+?)[？?。]*$")


def spoken_choices(question: str, count: int) -> list[str]:
    """The names a clarifying question offered ("您问的是补身份证还是换身份证？"), in order; [] if not parsable."""
    m = _CHOICES.search(question.strip())
    names = [m.group(1), m.group(2)] if m else []
    return names if len(names) == count else []


def pick_alternative(text: str, alternatives: list[Alternative], spoken: list[str] | None = None) -> Alternative | None:
    """The alternative the caller named ("补身份证", "市民卡那个", "第二个") or None."""
    t = clean(text)
    spoken = spoken or []
    matched = []
    for i, alt in enumerate(alternatives):
        names = [alt.item_name, spoken[i]] if i < len(spoken) else [alt.item_name]
        if any(n and (n in t or (len(t) >= 2 and t in n)) for n in map(clean, names)):
            matched.append(alt)
    if len(matched) == 1:  # "身份证" fits both: not a choice
        return matched[0]
    for i, alt in enumerate(alternatives[: len(_ORDINALS)]):
        if f"第{_ORDINALS[i]}" in t or f"第{i + 1}" in t:
            return alt
    return None
