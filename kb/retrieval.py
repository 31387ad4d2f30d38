"""Rank items and bundles for one normalised question: whole-phrase hits (by characters or by sound), then BM25.

Pure functions over a built `kb.index.Index`; no I/O. The result carries the features the QA layer turns into a
confidence: how much of the question a phrase or the BM25 terms explain, and the margin to the runner-up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz

from kb.index import K1, TERM_WEIGHTS, B, Index
from kb.text import sound_key

SOUND_HIT = 0.9  # a homophone hit counts a little less than the exact characters
NEAR_HIT = 0.7  # one syllable off
PHRASE_BONUS = 1.6  # ranking points per matched phrase character
NEAR_CANDIDATES = 12


@dataclass(frozen=True)
class Candidate:
    code: str
    score: float
    phrase: str  # the best name/alias found in the question ("" if none)
    phrase_len: float  # its length in characters, discounted for sound or near hits
    coverage: float  # share of the question's term weight (idf) this target contains, 0..1


def phrase_hits(index: Index, text: str, key: str) -> dict[str, tuple[float, str]]:
    """code -> (discounted length, phrase) of the longest name/alias present in the question."""
    best: dict[str, tuple[float, str]] = {}
    for p in index.phrases:
        if len(p.text) < 2:
            continue
        if p.text in text:
            length = float(len(p.text))
        elif p.key in key:
            length = len(p.text) * SOUND_HIT
        else:
            continue
        if length > best.get(p.code, (0.0, ""))[0]:
            best[p.code] = (length, p.text)
    return best


def near_hits(index: Index, key: str, codes: set[str]) -> dict[str, tuple[float, str]]:
    """Phrases of at least 3 syllables found in the question with one syllable wrong (ASR near-misses)."""
    best: dict[str, tuple[float, str]] = {}
    for p in index.phrases:
        if p.code not in codes or len(p.key) < 3 or len(p.key) > len(key) + 1:
            continue
        al = fuzz.partial_ratio_alignment(p.key, key, score_cutoff=100 * (1 - 1.0 / len(p.key)) - 0.01)
        if al is None:
            continue
        length = len(p.text) * NEAR_HIT * al.score / 100
        if length > best.get(p.code, (0.0, ""))[0]:
            best[p.code] = (length, p.text)
    return best


def bm25(index: Index, terms: list[str]) -> dict[str, float]:
    scores: dict[str, float] = defaultdict(float)
    for term in set(terms):
        postings = index.postings.get(term)
        if postings is None:
            continue
        idf = index.idf[term] * TERM_WEIGHTS.get(term[0], 1.0)
        for code, tf in postings.items():
            norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * index.doc_len[code] / index.avg_len))
            scores[code] += idf * norm
    return scores


def coverage(index: Index, chars: list[str], code: str) -> float:
    """Share of the question's content characters (idf-weighted) found in the target's phrases, 0..1.

    A character missing from the whole KB weighs most: it is what makes "今天天气" out of scope. A homophone
    counts most of the way (ASR errors).
    """
    total = got = 0.0
    own, sounds = index.doc_chars[code], index.doc_sounds[code]
    for ch in chars:
        weight = index.idf.get("#" + ch, index.max_idf)
        total += weight
        if ch in own:
            got += weight
        elif sound_key(ch) in sounds:
            got += weight * 0.5  # a lone homophone is weak evidence; phrases carry the strong sound matches
    return got / total if total else 0.0


def rank(index: Index, text: str, limit: int = 5) -> list[Candidate]:
    """Best targets first. ``text`` is normalised (kb.text.normalise)."""
    key = sound_key(text)
    scores = bm25(index, index.terms(text))
    chars = index.content_chars(index.content(text))
    hits = phrase_hits(index, text, key)
    pool = sorted(scores, key=scores.get, reverse=True)[:NEAR_CANDIDATES]
    for code, hit in near_hits(index, key, set(pool) - set(hits)).items():
        hits[code] = hit
    out = []
    for code in set(scores) | set(hits):
        length, phrase = hits.get(code, (0.0, ""))
        score = scores.get(code, 0.0) + PHRASE_BONUS * length
        out.append((code, score, phrase, length))
    out.sort(key=lambda c: (-c[1], c[0]))
    return [Candidate(code, score, phrase, length, coverage(index, chars, code))
            for code, score, phrase, length in out[:limit]]
