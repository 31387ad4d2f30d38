"""A learned choice among the engine's candidates, with "none of them" as an option (issue 11).

The lexical engine (kb.retrieval.rank) proposes a pool of POOL targets; each gets a vector of generic signals (how
it was found, how much of the question it explains, whether the operation said fits it, bundle against "together"
intent...), never its code or department, so the model transfers to new phrasings and to items with few labelled
questions. A conditional logit scores every candidate (w . f) and a NULL option (v . g, question-level signals:
off-topic cue, how much was said, centre topic...); softmax over them. The engine answers with the best candidate
when its probability reaches the fitted threshold, else abstains. Weights are fitted by
benchmarks/kb_train_ranker.py (L2, scipy) on the tune split only and stored in kb/ranker.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from kb.confidence import CONTENT_FULL, clause_fit, features, probability
from kb.distinguish import together
from kb.index import STOP_CHARS, Index
from kb.operations import OTHER_SAID, SAID, UNSAID, operation_factor, qualifier_said, siblings, thing
from kb.retrieval import Candidate, bm25, coverage
from kb.text import longest_shared_run, sound_key

CENTRE = "CENTRE"  # the centre's code among the meaning similarities (kb.meaning)
POOL = 10  # candidates the model chooses among (right item's recall in the pool: benchmarks/kb_train_ranker.py)
MODEL_PATH = Path(__file__).with_name("ranker.json")
EXEMPLARS_PATH = Path(__file__).with_name("ranker-exemplars.npz")  # written with it by kb_train_ranker.py

CANDIDATE_FEATURES = (
    "score_ratio",  # engine score / top engine score
    "log_score",  # log(1 + engine score)
    "rank0",  # the engine's own first
    "rank",  # engine rank / POOL
    "bm25_ratio",  # BM25 alone / best BM25 in the pool
    "phrase_q",  # hit quality of its best name/alias: 1 exact, 0.9 by sound, less scattered or near
    "phrase_len",  # matched length in characters / 8
    "named",  # a name/alias of 2+ characters in the question as written
    "named_asking",  # ... in the asking (last) clause
    "by_sound",  # share of the matched phrase heard only by sound
    "partial",  # longest run of one of its phrases in the question (by sound), share of that phrase
    "coverage",  # idf-weighted share of the question's content characters it contains
    "unexplained",  # idf mass it leaves unexplained, CONTENT_FULL units, at most 2
    "clause",  # best clause's coverage x content mass
    "conf_logit",  # the calibrated confidence model (kb.confidence) as if this were the top target, logit / 5
    "op_said",  # it is marked with (or is the first issue and the caller said) the operation said
    "op_unsaid",  # it is marked with an operation the caller did not say
    "op_other",  # a first-issue item while the caller said another operation
    "has_sibling",  # another candidate is about the same thing (other operation)
    "sibling_above",  # ... and ranks above it
    "qual_unsaid",  # it is the more specific sibling and its extra word was not said
    "qual_said",  # ... and it was said
    "bundle",  # a 一件事 bundle
    "bundle_together",  # a bundle and the caller asks for things together
    "member_of_pool_bundle",  # an item whose bundle is also in the pool
    "name_chars",  # share of its official name's content characters in the question
    "name_sounds",  # the same by sound
    "unique",  # idf share of the question's content characters it alone in the pool contains
    "cov_gap",  # its coverage minus the best other candidate's
    "clause_gap",  # its clause fit minus the best other candidate's
    "thing",  # best share of the thing one of its names is about (kb.operations.thing) heard in the question
    "thing_run",  # longest run of that thing heard in the question, share of it
    "ask_cov",  # coverage of the asking (last) clause's content characters (the whole question's if one clause)
    "missing_words",  # idf share of the question's words (2+ characters) its text (all fields) lacks
    "missing_word_max",  # the rarest of them, idf / the KB's highest
    "member_together",  # an item whose bundle is in the pool, and the caller asks for things together
    "members_in_pool",  # a bundle: share of its member items in the pool
    # Meaning (kb.meaning, multilingual-e5): cosines sit in a narrow band (~0.85-0.95), so gaps are scaled x20
    "sim_gap",  # its similarity minus the best of all targets', x20, at least -2 (0: meaning's own first)
    "sim_pool_gap",  # ... minus the best in the pool's, x20, at least -2
    "sim_top",  # meaning's first of all targets
    "injected",  # in the pool only because meaning ranks it high (no word of it matched)
)
NULL_FEATURES = (
    "bias",
    "off_topic",  # a non-service intent cue (kb.confidence.OFF_TOPIC)
    "mass",  # content mass of the question, CONTENT_FULL units, at most 3
    "service",  # an aspect cue: the question asks something about a service
    "topic",  # strength of the centre topic match (kb.centre.match_topic)
    "centre",  # the caller says 你们/中心/大厅
    "clauses",  # number of clauses / 4, at most 1
    "any_named",  # some candidate is named as written
    "top_conf_logit",  # the calibrated confidence of the engine's top, logit / 5
    "unknown",  # idf share of the question's content characters no target of the KB has
    "pool_unexplained",  # ... no candidate of the pool has
    "foreign_words",  # idf share of the question's words no target's text has at all
    "sim_best",  # meaning: the best similarity of any item or bundle, (s - 0.9) x 10
    "sim_centre_over",  # meaning: the centre's facts' similarity minus that best, x20, clipped to [-2, 2]
    "like_oos",  # meaning: nearest labelled out-of-scope question minus nearest answerable one, x20, [-3, 3]
    "elsewhere",  # another place's or organisation's counter is named (kb.confidence.ELSEWHERE)
)


@dataclass(frozen=True)
class Question:
    """What the features need about the question, computed once by the QA engine."""

    text: str  # normalised
    content_text: str  # without aspect cues (what rank scored)
    last: str  # asking clause ("" for a one-clause question)
    last_content: str  # ... without aspect cues
    part_chars: list[list[str]]  # content characters of each clause (empty for a one-clause question)
    said: frozenset[str]  # operations said (kb.operations.said_operations)
    aspect_strength: float
    topic_strength: float
    centre: bool
    off_topic: bool
    off_topic_cues: tuple[str, ...]
    known_chars: frozenset[str]  # characters of every target's names and aliases (Index.doc_chars)
    sims: dict[str, float] = field(default_factory=dict)  # meaning similarity per code, CENTRE included ({}: none)
    like_oos: float = 0.0  # Exemplars.like_oos of the question (0: no meaning model)
    elsewhere: bool = False  # another place's or organisation's counter is named


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p)) / 5.0


def _thing(phrases: list[str], key: str) -> tuple[float, float]:
    """(share, longest run share) of the best heard thing of ``phrases`` (names and aliases) in the question."""
    share = run = 0.0
    for phrase in phrases:
        t = sound_key(thing(phrase))
        if len(t) < 2:
            continue
        share = max(share, sum(s in key for s in t) / len(t))
        run = max(run, longest_shared_run(t, key) / len(t))
    return share, run


def _meaning(sims: dict[str, float], code: str, best: float, pool_best: float) -> tuple[float, float, float]:
    """(sim_gap, sim_pool_gap, sim_top) of one candidate; zeros without a meaning model."""
    if not sims:
        return 0.0, 0.0, 0.0
    s = sims.get(code, 0.0)
    return max((s - best) * 20, -2.0), max((s - pool_best) * 20, -2.0), 1.0 if s >= best else 0.0


def pool_features(index: Index, q: Question, cands: list[Candidate], phrase_keys: dict[str, list[str]],
                  phrase_texts: dict[str, list[str]]) -> tuple[list[list[float]], list[float]]:
    """(one CANDIDATE_FEATURES row per candidate, the NULL_FEATURES row) for the pool ``cands`` (engine order)."""
    key = sound_key(q.text)
    top_score = cands[0].score or 1.0
    terms = index.terms(q.content_text)
    bm = bm25(index, terms)
    words = {t: index.idf.get(t, index.max_idf) for t in terms if t[0] not in "#~"}
    word_mass = sum(words.values()) or 1.0
    best_bm = max((bm.get(c.code, 0.0) for c in cands), default=0.0) or 1.0
    names = index.names
    wanted = together(q.text)
    pool_bundles = [c.code for c in cands if c.code in index.bundle_codes]
    pool_codes = {c.code for c in cands}
    rows: list[list[float]] = []
    conf_top = 0.0
    targets = [s for code, s in q.sims.items() if code != CENTRE]
    sim_best = max(targets, default=0.0)
    sim_pool = max((q.sims.get(c.code, 0.0) for c in cands), default=0.0)
    chars = index.content_chars(index.content(q.content_text))
    weight = {ch: index.idf.get("#" + ch, index.max_idf) for ch in chars}
    mass = sum(weight.values()) or 1.0
    holders = {ch: [j for j, c in enumerate(cands) if ch in index.doc_chars[c.code]] for ch in chars}
    clauses = [clause_fit(index, q.part_chars, c) for c in cands]
    asking = index.content_chars(index.content(q.last_content)) if q.last else []
    for i, c in enumerate(cands):
        phrase_q = c.phrase_len / len(c.phrase) if len(c.phrase) >= 2 else 0.0
        named = len(c.phrase) >= 2 and c.phrase in q.text
        clause = clauses[i]
        others = [j for j in range(len(cands)) if j != i]
        other = None if len(cands) == 1 else cands[1] if i == 0 else cands[0]
        keys = phrase_keys.get(c.code, [])
        f = features(c, other, key, keys, q.aspect_strength, q.text, q.off_topic_cues, clause)
        # (the margin to the best other target: negative margins clipped to 0, like the engine's own top)
        conf = probability(f)
        if i == 0:
            conf_top = conf
        factor = operation_factor(index.operations.get(c.code, frozenset()), q.said)
        kin = [j for j, o in enumerate(cands) if o.code != c.code and siblings(names[c.code], names[o.code])]
        quals = [qualifier_said(names[c.code], names[cands[j].code], q.text) for j in kin]
        name_chars = [ch for ch in names[c.code] if "\u4e00" <= ch <= "\u9fff" and ch not in STOP_CHARS]
        is_bundle = c.code in index.bundle_codes
        in_bundle = any(c.code in index.bundle_items[b] for b in pool_bundles)
        rows.append([
            c.score / top_score,
            math.log1p(max(c.score, 0.0)),
            1.0 if i == 0 else 0.0,
            i / POOL,
            bm.get(c.code, 0.0) / best_bm,
            phrase_q,
            min(c.phrase_len, 8.0) / 8.0,
            1.0 if named else 0.0,
            1.0 if named and (not q.last or c.phrase in q.last) else 0.0,
            f.by_sound,
            f.partial,
            c.coverage,
            f.unexplained,
            clause,
            _logit(conf),
            1.0 if kin and factor == SAID else 0.0,
            1.0 if kin and factor == UNSAID else 0.0,
            1.0 if kin and factor == OTHER_SAID else 0.0,
            1.0 if kin else 0.0,
            1.0 if any(j < i for j in kin) else 0.0,
            1.0 if False in quals else 0.0,
            1.0 if True in quals else 0.0,
            1.0 if is_bundle else 0.0,
            1.0 if is_bundle and wanted else 0.0,
            1.0 if in_bundle else 0.0,
            sum(ch in q.text for ch in name_chars) / len(name_chars) if name_chars else 0.0,
            sum(sound_key(ch) in key for ch in name_chars) / len(name_chars) if name_chars else 0.0,
            sum(weight[ch] for ch, js in holders.items() if js == [i]) / mass,
            c.coverage - max((cands[j].coverage for j in others), default=0.0),
            clause - max((clauses[j] for j in others), default=0.0),
            *_thing(phrase_texts.get(c.code, []), key),
            coverage(index, asking, c.code)[0] if asking else c.coverage,
            sum(w for t, w in words.items() if c.code not in index.postings.get(t, ())) / word_mass,
            max((w for t, w in words.items() if c.code not in index.postings.get(t, ())), default=0.0) / index.max_idf,
            1.0 if wanted and in_bundle else 0.0,
            sum(m in pool_codes for m in index.bundle_items[c.code]) / len(index.bundle_items[c.code])
            if is_bundle and index.bundle_items.get(c.code) else 0.0,
            *_meaning(q.sims, c.code, sim_best, sim_pool),
            1.0 if c.score <= 0 else 0.0,
        ])
    null = [
        1.0,
        1.0 if q.off_topic else 0.0,
        min(cands[0].content / CONTENT_FULL, 3.0),
        1.0 if q.aspect_strength > 0 else 0.0,
        q.topic_strength,
        1.0 if q.centre else 0.0,
        min(1 + len(q.part_chars), 4) / 4 if q.part_chars else 0.25,
        1.0 if any(len(c.phrase) >= 2 and c.phrase in q.text for c in cands) else 0.0,
        _logit(conf_top),
        sum(w for ch, w in weight.items() if ch not in q.known_chars) / mass,
        sum(w for ch, w in weight.items() if not holders[ch]) / mass,
        sum(w for t, w in words.items() if t not in index.postings) / word_mass,
        (sim_best - 0.9) * 10 if q.sims else 0.0,
        min(max((q.sims.get(CENTRE, 0.0) - sim_best) * 20, -2.0), 2.0) if q.sims else 0.0,
        q.like_oos,
        1.0 if q.elsewhere else 0.0,
    ]
    return rows, null


def oos_gap(oos_best: float, in_best: float) -> float:
    """The ``like_oos`` feature from the nearest out-of-scope and nearest answerable exemplar's similarity."""
    return min(max((oos_best - in_best) * 20, -3.0), 3.0)


@dataclass(frozen=True, eq=False)
class Exemplars:
    """Meaning vectors (kb.meaning) of the labelled tuning questions the model was fitted with, which of them
    no item answers, and the centre topic of those that are centre questions. A question much nearer a known
    out-of-scope question (公积金贷款利率多少, asked of a bank) than any answerable one is likelier out of scope,
    whatever words it shares with an item; one nearest a centre question ("吃饭那个点有人吗") is likely about the
    centre's same service, in words no topic cue lists."""

    tag: str  # kb.meaning model tag the vectors were made with
    vectors: np.ndarray  # (questions, dim) float32, L2-normalised
    oos: np.ndarray  # (questions,) bool
    topics: np.ndarray  # (questions,) str: the centre topic's name (kb.centre.TOPICS), "" for other questions
    # The masks near() needs, made once (comparing every topic string cost ~50 us an answer).
    _centre: np.ndarray = field(init=False, repr=False)
    _other: np.ndarray = field(init=False, repr=False)
    _answerable: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        centre = self.topics != ""
        object.__setattr__(self, "_centre", centre)
        object.__setattr__(self, "_other", ~centre)
        object.__setattr__(self, "_answerable", ~self.oos)

    def near(self, vector: np.ndarray) -> tuple[float, str, float]:
        """(like_oos, the nearest centre question's topic, how much nearer it is than any other question)."""
        s = self.vectors @ vector
        centre = self._centre
        like = oos_gap(float(s[self.oos].max(initial=0.0)), float(s[self._answerable].max(initial=0.0)))
        if not centre.any():
            return like, "", -1.0
        best = int(np.argmax(np.where(centre, s, -1.0)))
        return like, str(self.topics[best]), float(s[best] - s[self._other].max(initial=0.0))

    def like_oos(self, vector: np.ndarray) -> float:
        return self.near(vector)[0]

    def save(self, path: Path) -> None:
        np.savez_compressed(path, vectors=self.vectors.astype(np.float16), oos=self.oos, topics=self.topics,
                            tag=np.array(self.tag))

    @classmethod
    def load(cls, path: Path) -> Exemplars:
        with np.load(path) as data:
            topics = data["topics"].astype(str) if "topics" in data else np.full(len(data["oos"]), "")
            return cls(str(data["tag"]), data["vectors"].astype(np.float32), data["oos"].astype(bool), topics)


@dataclass(frozen=True)
class Ranker:
    """Conditional logit over the pool plus NULL; ``threshold``: the least probability to answer with the best."""

    weights: tuple[float, ...]  # CANDIDATE_FEATURES order
    null_weights: tuple[float, ...]  # NULL_FEATURES order
    threshold: float
    exemplars: Exemplars | None = field(default=None, compare=False)  # for like_oos (EXEMPLARS_PATH)

    def probabilities(self, rows: list[list[float]], null: list[float]) -> tuple[list[float], float]:
        """(P(candidate i is meant) per row, P(none of them))."""
        zs = [sum(w * x for w, x in zip(self.weights, r, strict=True)) for r in rows]
        zn = sum(w * x for w, x in zip(self.null_weights, null, strict=True))
        top = max(zs + [zn])
        es = [math.exp(z - top) for z in zs]
        en = math.exp(zn - top)
        total = sum(es) + en
        return [e / total for e in es], en / total

    def to_json(self) -> dict[str, object]:
        return {"candidate": dict(zip(CANDIDATE_FEATURES, self.weights, strict=True)),
                "null": dict(zip(NULL_FEATURES, self.null_weights, strict=True)), "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> Ranker:
        return cls(tuple(float(data["candidate"][n]) for n in CANDIDATE_FEATURES),
                   tuple(float(data["null"][n]) for n in NULL_FEATURES), float(data["threshold"]))


def load_ranker(path: Path = MODEL_PATH, exemplars: Path = EXEMPLARS_PATH) -> Ranker | None:
    """The fitted model with its exemplars, or None when either is missing (or fitted on other features): the rule
    engine decides."""
    try:
        model = Ranker.from_json(json.loads(path.read_text(encoding="utf-8")))
        return replace(model, exemplars=Exemplars.load(exemplars))
    except (OSError, KeyError, ValueError):
        return None
