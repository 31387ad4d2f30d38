"""How far a transcript is from what was said: the character error rate every speech figure here uses."""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_KEEP = re.compile(r"[^\u4e00-\u9fff0-9A-Za-z]")


def comparable(text: str) -> str:
    """Chinese characters, letters and digits only (punctuation and spaces are not scored)."""
    return _KEEP.sub("", text)


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate over Chinese characters, letters and digits (punctuation and spaces ignored)."""
    ref, hyp = comparable(reference), comparable(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def edits(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character edits, reference length): summed over a set, they give the corpus CER."""
    ref, hyp = comparable(reference), comparable(hypothesis)
    return Levenshtein.distance(ref, hyp), len(ref)
