"""Choose which hotwords to put in front of the recogniser: the ones that sound like what was said.

A whole knowledge base of item names and aliases does not fit Whisper's 224-token prompt, and a prompt of
unrelated names biases it the wrong way. So the first pass runs without hotwords; its (often sound-alike)
text picks the few hints whose folded pinyin best matches, and the second pass decodes with those.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz

_HAN = re.compile(r"[^\u4e00-\u9fff]")
# Distinctions a telephone line and a southern accent blur: zh/z, ch/c, sh/s, -ng/-n, l/n.
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"))
_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def _fold(syllable: str) -> str:
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a) :]
            break
    for a, b in _FINALS:
        if syllable.endswith(a):
            syllable = syllable[: -len(a)] + b
            break
    return syllable


@lru_cache(maxsize=4096)
def sound_key(text: str) -> str:
    """'港澳通行证' -> 'gan ao ton xin zen' (toneless, folded pinyin of the Chinese characters)."""
    return " ".join(_fold(s) for s in lazy_pinyin(_HAN.sub("", text), style=Style.NORMAL))


def select_hints(heard: str, hints: Sequence[str], limit: int = 8, min_score: float = 70.0) -> list[str]:
    """The hints that best match some stretch of ``heard`` by sound, best first."""
    heard_key = sound_key(heard)
    if not heard_key:
        return []
    scored = []
    for hint in dict.fromkeys(h.strip() for h in hints):
        key = sound_key(hint)
        if len(key.split()) < 2:  # one syllable matches anything
            continue
        score = fuzz.partial_ratio(key, heard_key)
        if score >= min_score:
            scored.append((score, len(key), hint))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    return [hint for _, _, hint in scored[:limit]]


def sounds_in(hint: str, heard: str) -> bool:
    """Is the hint in ``heard`` syllable for syllable by (folded) sound, e.g. 市民卡 in 是民卡丢了?"""
    key = sound_key(hint)
    return bool(key) and f" {key} " in f" {sound_key(heard)} "
