"""Rank items and bundles for one normalised question: whole-phrase hits (by characters or by sound), then BM25.

Pure functions over a built `kb.index.Index`; no I/O. The result carries the features the QA layer turns into a
confidence: how much of the question a phrase or the BM25 terms explain, and the margin to the runner-up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from kb.distinguish import together
from kb.index import STOP_CHARS, TERM_WEIGHTS, Index
from kb.operations import SAID, UNSAID, operation_factor, qualifier_said, said_operations, siblings
from kb.text import sound_key, symbol_similarity

SOUND_HIT = 0.9  # a homophone hit counts a little less than the exact characters
NEAR_PENALTY = 1.5  # a near hit loses this many characters of length per unit of sound deficit
PHRASE_BONUS = 2.5  # ranking points per matched phrase character
SCATTER_HIT = 0.75  # all of a phrase, in order, in at most 3 pieces ("身份证下个月就到期" ~ 身份证到期)
SCATTER_SLACK = 10  # at most this many other characters between the pieces
POOL = 30  # BM25 candidates re-scored with coverage
MEMBER_BONUS = 0.3  # per member item of a bundle the question names (from two up)


@dataclass(frozen=True)
class Candidate:
    code: str
    score: float
    phrase: str  # the best name/alias found in the question ("" if none)
    phrase_len: float  # its length in characters, discounted for sound or near hits
    coverage: float  # share of the question's content characters (idf-weighted) this target contains, 0..1
    content: float  # idf mass of the question's content characters: near 0 means the question names nothing


def phrase_hits(index: Index, text: str, key: str) -> dict[str, tuple[float, str]]:
    """code -> (discounted length, phrase) of the longest name/alias present in the question."""
    best: dict[str, tuple[float, str]] = {}
    # Only phrases that are one of the question's substrings (as written or by sound) can hit: each start's
    # substrings are looked up while they still start some phrase, then checked in index order as before.
    found: set[int] = set()
    for source, by in ((text, index.phrases_by_text), (key, index.phrases_by_key)):
        for i in range(len(source) - 1):
            end = i + 2
            while end <= len(source) and (at := by.get(source[i:end])) is not None:
                found.update(at)
                end += 1
    for p in (index.phrases[i] for i in sorted(found)):
        if p.text in text:
            length = float(len(p.text))
        elif p.key in key:
            length = len(p.text) * SOUND_HIT
        else:
            continue
        if length > best.get(p.code, (0.0, ""))[0]:
            best[p.code] = (length, p.text)
    return best


def scattered(phrase_key: str, key: str) -> bool:
    """Is the phrase in the question in order, in at most 3 pieces of 2+ syllables, with little in between?
    Story-like questions put words between the parts of an alias (市民卡昨天坐公交的时候丢了 ~ 市民卡丢了)."""
    rest, pos, start, pieces = phrase_key, 0, -1, 0
    while rest:
        for length in range(len(rest), 1, -1):
            idx = key.find(rest[:length], pos)
            if idx >= 0:
                start = idx if start < 0 else start
                pos, rest, pieces = idx + length, rest[length:], pieces + 1
                break
        else:
            return False
        if len(rest) == 1 or pieces > 3:
            return False
    return pos - start <= len(phrase_key) + SCATTER_SLACK


def scattered_hits(index: Index, key: str) -> dict[str, tuple[float, str]]:
    best: dict[str, tuple[float, str]] = {}
    # Only phrases whose first piece can be there: they start with one of the question's syllable pairs.
    starts = {key[i : i + 2] for i in range(len(key) - 1)}
    for p in (p for s in starts for p in index.phrase_starts.get(s, ())):
        if scattered(p.key, key):
            length = len(p.key) * SCATTER_HIT
            if length > best.get(p.code, (0.0, ""))[0]:
                best[p.code] = (length, p.text)
    return best


PAIR_GAP = 3  # at most this many characters between the two halves of a two-character alias
PAIR_HIT = 0.6  # "狗想办证" ~ 狗证: weaker than a scattered long phrase, not a naming of the item


def pair_hits(index: Index, key: str) -> dict[str, tuple[float, str]]:
    """Two-character aliases said with a few words between their halves (我家狗要办证 ~ 狗证, 护照过期 ~ 护照)."""
    best: dict[str, tuple[float, str]] = {}
    for i, sym in enumerate(key):
        for p in index.pairs.get(sym, ()):
            if p.key[1] in key[i + 2 : i + 2 + PAIR_GAP]:
                length = 2 * PAIR_HIT
                if length > best.get(p.code, (0.0, ""))[0]:
                    best[p.code] = (length, p.text)
    return best


def _max_deficit(n: int) -> float:
    """How far from the phrase's sound a stretch of the question may be (sum of 1 - syllable similarity):
    a two-syllable alias only one mild confusion (口证 ~ 狗证), longer phrases about one wrong syllable."""
    return 0.3 if n == 2 else 0.6 if n == 3 else 1.05 if n < 6 else 1.6


def near_hits(index: Index, key: str) -> dict[str, tuple[float, str]]:
    """Names and aliases present in the question with syllables slightly off by sound (ASR slips on 8 kHz audio:
    挂虚/挂失, 序民卡/市民卡, 驾造/驾照), graded by kb.text.symbol_similarity. Substitution only: a shorter word
    inside a longer phrase is not a near hit of it. A wholly different first syllable is usually a different verb,
    so a different item (换/补身份证, 带/补户口本): it must at least sound alike."""
    best: dict[str, tuple[float, str]] = {}
    present = set(key)
    at: dict[str, list[int]] = defaultdict(list)  # where each syllable is heard in the question
    for j, sym in enumerate(key):
        at[sym].append(j)
    # A window must hear at least one of the phrase's syllables exactly (below), and a syllable heard nowhere in the
    # question is a wrong one wherever the phrase has it: a phrase with none heard, or with more unheard than it may
    # have wrong, is out. Counted for every phrase at once (at 480+ items this skips almost all of them).
    hits = [index.with_symbol[sym] for sym in present if sym in index.with_symbol]
    if not hits:
        return best
    heard = np.bincount(np.concatenate(hits), minlength=len(index.phrases))
    ok = ((heard > 0) & (index.phrase_syllables - heard <= index.phrase_wrong)
          & (index.phrase_len >= 2) & (index.phrase_len <= len(key)))
    for i in np.flatnonzero(ok).tolist():  # (index order: ties as ever)
        p = index.phrases[i]
        n = len(p.key)
        if p.key in key:
            continue
        limit, max_wrong = _max_deficit(n), int(index.phrase_wrong[i])
        # Only a window with at least n - max_wrong syllables exactly as the phrase has them can match (a
        # syllable's similarity is 1 only to itself): count those per window start, check only those windows.
        same: dict[int, int] = {}
        last = len(key) - n
        for i, sym in enumerate(p.key):
            for j in at.get(sym, ()):
                if 0 <= j - i <= last:
                    same[j - i] = same.get(j - i, 0) + 1
        starts = sorted(start for start, k in same.items() if k >= n - max_wrong)
        if not starts:
            continue
        content = [ch not in STOP_CHARS for ch in p.text] if len(p.text) == n else [True] * n
        found = None
        for start in starts:
            window = key[start : start + n]
            first = symbol_similarity(window[0], p.key[0])
            if first < 0.5:
                continue
            deficit, wrong = 1.0 - first, int(first < 1.0)
            exact = first == 1.0 and content[0]
            for i, (a, b) in enumerate(zip(window[1:], p.key[1:], strict=True), 1):
                sim = symbol_similarity(a, b)
                deficit, wrong = deficit + 1.0 - sim, wrong + (sim < 1.0)
                exact = exact or (sim == 1.0 and content[i])
                if deficit > limit or wrong > max_wrong:
                    break
            # At least one of the phrase's own words must be heard as it is: "预约迟到了怎么办" is no near hit of
            # 失业了怎么办, where only the question words match.
            if (exact or not any(content)) and deficit <= limit and wrong <= max_wrong and (
                    found is None or deficit < found):
                found = deficit
        if found is not None:
            length = SOUND_HIT * (n - NEAR_PENALTY * found)
            if length > best.get(p.code, (0.0, ""))[0]:
                best[p.code] = (length, p.text)
    return best


def bm25(index: Index, terms: list[str]) -> dict[str, float]:
    """BM25 per target that shares a term with the question, in ``index.codes`` order."""
    last = index.bm25_last  # (one tuple: safe to read while another thread replaces it)
    if last[0] == tuple(terms) and terms:
        return dict(last[1])
    total = np.zeros(len(index.codes))
    touched = np.zeros(len(index.codes), bool)
    for term in dict.fromkeys(terms):  # (in order: float sums, hence ties, the same in every process)
        got = index.bm25_terms.get(term)
        if got is None:
            continue
        at, norms = got
        total[at] += index.idf[term] * TERM_WEIGHTS.get(term[0], 1.0) * norms
        touched[at] = True
    found = np.flatnonzero(touched)
    scores = dict(zip([index.codes[i] for i in found.tolist()], total[found].tolist(), strict=True))
    index.bm25_last = (tuple(terms), scores)
    return dict(scores)


def coverage(index: Index, chars: list[str], code: str) -> tuple[float, float]:
    """(share, total): share of the question's content characters (idf-weighted) found in the target, 0..1.

    A character missing from the whole KB weighs most: it is what makes "今天天气" out of scope. A homophone
    counts most of the way (ASR errors).
    """
    # (a lone homophone weighs 0.3: weak evidence, 狗~购; phrases carry the sound matches.) Computed for every
    # target at once and remembered per question (Index.coverages): one answer asks for ~80 targets.
    shares, total = index.coverages(chars)
    return float(shares[index.code_at[code]]), total


def rank(index: Index, text: str, content_text: str | None = None, limit: int = 5, asking: str = ""
         ) -> list[Candidate]:
    """Best targets first. ``text`` is normalised (kb.text.normalise); names and aliases are looked for in it.
    BM25 and coverage use ``content_text`` (default ``text``): the QA layer passes it without aspect cues.
    ``asking``: the last clause of a question of several (where callers ask, after the story), else ""."""
    key = sound_key(text)
    content_text = text if content_text is None else content_text
    scores = bm25(index, index.terms(content_text))
    chars = index.content_chars(index.content(content_text))
    hits = phrase_hits(index, text, key)
    for found in (scattered_hits(index, key), pair_hits(index, key)):
        for code, hit in found.items():
            if hit[0] > hits.get(code, (0.0, ""))[0]:
                hits[code] = hit
    ranked = sorted(scores, key=scores.get, reverse=True)
    for code, hit in near_hits(index, key).items():
        if hit[0] > hits.get(code, (0.0, ""))[0]:
            hits[code] = hit
    # A question that names two or more items of one 一件事 bundle ("解押、缴税、过户全部弄完要几天") means the bundle.
    named = {code for code, (length, _) in hits.items() if length >= 2} | set(ranked[:3])
    members = {b: sum(m in named for m in items) for b, items in index.bundle_items.items()}
    out = []
    for code in set(ranked[:POOL]) | set(hits) | {b for b, n in members.items() if n >= 2}:
        length, phrase = hits.get(code, (0.0, ""))
        cov, mass = coverage(index, chars, code)
        # A target that explains only part of the question ranks lower than one that explains all of it,
        # however often it repeats the part it has.
        score = (scores.get(code, 0.0) + PHRASE_BONUS * length) * (0.3 + 0.7 * cov)
        if members.get(code, 0) >= 2:
            score *= 1 + MEMBER_BONUS * members[code]
        out.append(Candidate(code, score, phrase, length, cov, mass))
    out.sort(key=lambda c: (-c.score, c.code))
    out = named_first(text, by_bundle_intent(index, text, out), index.bundle_codes, asking)
    if said_operations(text) or len(index.content(content_text)) > BARE_NOUN:
        out = by_operation(index, text, out[:SIBLING_POOL]) + out[SIBLING_POOL:]
    return out[:limit]


NAMED_OVER = 0.5  # an item the caller names as written outranks an unnamed one scoring up to twice as much
# ... and four times as much when named in the asking clause while the top one is not even heard: its score is
# only shared words of the story ("家里条件比较困难，低保怎么申请": 困难 is in 困难人员参保资助).
NAMED_OVER_UNHEARD = 0.25


def named_first(text: str, cands: list[Candidate], bundles: frozenset[str], asking: str = "") -> list[Candidate]:
    """The caller's own word for an item ("解押") beats an item that merely shares its characters in a longer
    official name (机动车解除抵押登记), unless that one scores far higher. Said in the asking clause after a story,
    it beats even more an item no name of which is heard at all ("家里条件比较困难，想问问低保要怎么申请")."""
    if not cands or (cands[0].phrase and cands[0].phrase in text):
        return cands
    top = cands[0]
    for i, c in enumerate(cands[1:4], 1):
        if len(c.phrase) < 2 or c.phrase not in text:
            continue
        if (not top.phrase and c.phrase in asking and top.code not in bundles
                and c.score >= NAMED_OVER_UNHEARD * top.score):
            # (scores swapped, as in by_bundle_intent: the order must survive by_operation's re-sort)
            return [replace(c, score=top.score), *cands[1:i], replace(top, score=c.score), *cands[i + 1 :]]
        if c.score >= NAMED_OVER * top.score:
            return [c, *cands[:i], *cands[i + 1 :]]
    return cands


TOGETHER_FACTOR = 1.35  # a 一件事 bundle when the caller asks for things together ("一起办", "要办哪些手续")
ALONE_FACTOR = 0.8  # a bundle when the caller asks about one thing: its member item is meant


KIN_OVER = 0.4  # a bundle and one of its own members: the intent decides down to this score ratio


def by_bundle_intent(index: Index, text: str, cands: list[Candidate]) -> list[Candidate]:
    """Bundles share their members' words; whether the caller wants the whole life event decides between them.
    Between a bundle and one of its own members the intent decides outright ("继承房产过户要多久" is the transfer,
    "继承房产过户和水电一起办" the 一件事), unless the other one scores far lower."""
    bundles = index.bundle_codes
    if not any(c.code in bundles for c in cands[:SIBLING_POOL]):
        return cands
    wanted = together(text)
    factor = TOGETHER_FACTOR if wanted else ALONE_FACTOR
    out = [replace(c, score=c.score * factor) if c.code in bundles else c for c in cands]
    out.sort(key=lambda c: (-c.score, c.code))
    top = out[0]
    for i, c in enumerate(out[1:SIBLING_POOL], 1):
        if c.score < KIN_OVER * top.score:
            break
        if index.bundle_kin(top.code, c.code) and (c.code in bundles) == wanted:
            # (scores swapped: the margin to the other one stays what it was)
            out = [replace(c, score=top.score), replace(top, score=c.score), *out[1:i], *out[i + 1:]]
            out.sort(key=lambda x: (-x.score, x.code))
            return out
    return out


SIBLING_POOL = 8  # the best few are re-weighed by the operation the caller asked for
BARE_NOUN = 4  # a question that is only the thing ("市民卡", "狗证多少钱") says no operation: ask which one


def by_operation(index: Index, text: str, cands: list[Candidate]) -> list[Candidate]:
    """Among items about the same thing (kb.operations.siblings), the operation the caller said decides: "要办狗证"
    is the first issue, not the annual check; "执照丢了" the replacement. An item with no sibling in the pool keeps
    its score, whatever its name says."""
    said = said_operations(text)
    names = index.names
    out = []
    for c in cands:
        factor = 1.0
        kin = [o for o in cands if o.code != c.code and siblings(names[c.code], names[o.code])]
        if kin:
            factor = operation_factor(index.operations.get(c.code, frozenset()), said)
            qualifiers = [qualifier_said(names[c.code], names[o.code], text) for o in kin]
            if False in qualifiers:
                factor *= UNSAID
            elif True in qualifiers:
                factor *= SAID
        out.append(c if factor == 1.0 else replace(c, score=c.score * factor))
    out.sort(key=lambda c: (-c.score, c.code))
    return out
