"""Recogniser hints: the knowledge base's terms, built once per KB revision, and which of them to put in front of
the recogniser: the ones that sound like what was said.

A whole knowledge base of item names and aliases does not fit Whisper's 224-token prompt, and a prompt of
unrelated names biases it the wrong way. So the first pass runs without hotwords; its (often sound-alike)
text picks the few hints whose folded pinyin best matches, and the second pass decodes with those.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz

log = logging.getLogger(__name__)

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


class TermSource(Protocol):
    """Anything that lists recognisable terms (kb.qa.QAEngine, kb.reloader.KnowledgeReloader)."""

    def hotwords(self) -> list[str]: ...


class KbHints:
    """The knowledge base's terms (names and aliases) as recogniser hints, built once per KB revision.

    The whole list goes to the recogniser, which keeps the few that sound like what it heard (``select_hints``):
    cutting it here dropped the aliases callers say (狗证). Calls share one tuple, so the recognition worker can
    batch their utterances together. A dialog state's own words (yes/no, dates) come first.
    """

    def __init__(self, source: TermSource) -> None:
        self.source = source
        self._key: tuple[int, Any] | None = None
        self._terms: tuple[str, ...] = ()
        self._with_listen: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.builds = 0  # how many times the list was computed (tests check it is not per turn)

    def _revision_key(self) -> tuple[int, Any]:
        return id(self.source), getattr(self.source, "revision", None)

    def terms(self, listen: Sequence[str] = ()) -> tuple[str, ...]:
        key = self._revision_key()
        if key != self._key:
            try:
                self._terms = tuple(dict.fromkeys(self.source.hotwords()))
            except Exception as exc:  # recognition still works without hints
                log.warning("no recogniser hints from the knowledge base: %s", exc)
                self._terms = ()
            self._with_listen = {}
            self._key = key
            self.builds += 1
        if not listen:
            return self._terms
        listen = tuple(listen)
        if listen not in self._with_listen:
            self._with_listen[listen] = tuple(dict.fromkeys((*listen, *self._terms)))
        return self._with_listen[listen]
