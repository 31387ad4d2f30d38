"""The search index built once from a KnowledgeBase: phrases (names, aliases), BM25 postings, FAQ, centre facts.

Each answerable target (an item, or a bundle) is one BM25 document over two kinds of terms: jieba words (with a
domain dictionary generated from the KB, so 公积金/居住证 stay whole) and folded-pinyin syllable bigrams (so
homophone ASR errors still share terms with the right item). Fields are weighted (BM25F-style term frequencies).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import jieba
import numpy as np

from kb.operations import marked_operations
from kb.schema import KnowledgeBase
from kb.text import normalise, sound_key, syllable_bigrams

# Words that say how or what is asked, not which item; they must not pull retrieval towards any item.
_STOP_TEXT = """
我 你 您 你们 他 她 它 我们 的 了 吗 呢 啊 吧 呀 嘛 是 不是 在 有 没有 要 想 想要 需要 能 能不能 可以 可不可以
会 就 都 还 也 和 跟 给 让 去 来 到 把 被 对 这 那 这个 那个 哪 哪个 哪些 哪里 哪儿 什么 啥 怎么 怎么样 怎样 如何
怎么办 多少 多久 几 几个 一下 一个 现在 请问 问 问下 知道 告诉 办 办理 办个 弄 搞 做 应该 得 需 要求 一些
一般 大概 多长 时间 多少钱 钱 材料 带 准备 流程 手续 条件 地方 窗口 网上 手机 预约 邮寄 快递 费用 收费 免费
上班 下班 周末 几点 天 几天 东西 然后 今天 明天 已经 如果 因为 所以 但是 或者 还是 再 又 才 只 很 太
事 事情 业务 咨询 办证 办卡 办事 一下子 没 不 别 呗 哦 嗯 喂 好 谢谢 那要 那么 这样 那样 我家 我们家 家里 自己 个 些 么
重新 一张 一本 一份 一次 的话 那种 这边 那边 昨天 前天 最近 刚才 刚刚 下个月 上个月 这个月 听得到 听到 具体
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
# Characters of question words that jieba may leave single; never content.
STOP_CHARS = frozenset("我你您他她它的了吗呢啊吧呀嘛是在有要想能会就都还也和跟给让去来到把被对这那哪什么啥怎样如何多少几"
                       "下个些办理弄搞做得需带问请好喂嗯哦没不别")

# Single characters ("#狗") catch words jieba keeps whole in the KB (狗证) but callers split ("我家狗要办证");
# they are weaker evidence than words or sound bigrams ("~..").
TERM_WEIGHTS = {"#": 0.5, "~": 1.0}
FIELD_WEIGHTS = {"name": 3.0, "alias": 2.5, "faq": 1.0, "material": 0.4, "department": 0.8, "condition": 0.5,
                 "note": 1.0, "member": 0.6}
# Conditions describe the caller's situation ("犬只被收容", "户口迁往外省"): they help rank story-like questions,
# but their many words must not count as the item's own vocabulary in the coverage feature.
COVERAGE_FIELDS = ("name", "alias", "faq", "material", "department", "note", "member")
K1, B = 1.2, 0.6
CONTENTS_KEPT = 4096  # texts whose content words an index remembers (a dict: safe to share between threads)
# Terms and coverage rows are asked for again within one answer, rarely across answers: a few answers' worth is
# enough (with these, the n-gram buckets and the sibling pairs kept 4-16 times longer, 5,494 distinct questions
# grew the process by 125 MB instead of 80).
ANSWER_KEPT = 256


@dataclass(frozen=True)
class Phrase:
    """A name or alias; matched as a whole against the question, by characters or by sound."""

    text: str
    key: str
    code: str
    is_name: bool
    symbols: frozenset[str] = field(init=False, repr=False, compare=False)  # the key's syllables, for near_hits

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", frozenset(self.key))


@dataclass(frozen=True)
class FaqEntry:
    code: str
    question: str
    key: str
    answer: str


@dataclass
class Index:
    kb: KnowledgeBase
    tokenizer: jieba.Tokenizer
    phrases: list[Phrase] = field(default_factory=list)
    faqs: list[FaqEntry] = field(default_factory=list)
    postings: dict[str, dict[str, float]] = field(default_factory=dict)  # term -> code -> weighted tf
    doc_len: dict[str, float] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    avg_len: float = 1.0
    names: dict[str, str] = field(default_factory=dict)  # code -> official name (items and bundles)
    departments: dict[str, str] = field(default_factory=dict)  # item code -> department full name
    max_idf: float = 1.0
    doc_chars: dict[str, frozenset[str]] = field(default_factory=dict)  # code -> Han characters of its phrases
    doc_sounds: dict[str, frozenset[str]] = field(default_factory=dict)  # code -> their sound symbols
    phrase_starts: dict[str, list[Phrase]] = field(default_factory=dict)  # first two sound symbols -> 4+ phrases
    pairs: dict[str, list[Phrase]] = field(default_factory=dict)  # first sound symbol -> two-character phrases
    with_symbol: dict[str, np.ndarray] = field(default_factory=dict)  # sound symbol -> positions in phrases
    # Per phrase, for near_hits' one-pass filter: how many different syllables it has, how many of them may be heard
    # wrong (two blurred syllables in a short phrase match too many other words), and its length.
    phrase_syllables: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    phrase_wrong: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    phrase_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # BM25 by arrays: per term, the positions in ``codes`` of its postings and their length-normalised tf (fixed
    # once the index is built), so a question's scores are a few vector additions, not a loop over every posting.
    codes: list[str] = field(default_factory=list)
    bm25_terms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # The last question's terms and BM25 scores (kb.retrieval.bm25): ranking and the ranker's features both ask.
    bm25_last: tuple[tuple[str, ...], dict[str, float]] = field(default=((), {}), repr=False, compare=False)
    # Every start (2+ characters) of a phrase's text, and of its sound key, -> the phrases (positions in ``phrases``)
    # that are exactly it: phrase_hits walks the question's substrings while they start a phrase, instead of testing
    # every phrase against the question.
    phrases_by_text: dict[str, list[int]] = field(default_factory=dict)
    phrases_by_key: dict[str, list[int]] = field(default_factory=dict)
    _contents: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # text -> content(text)
    _terms: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)  # text -> terms
    # Coverage by arrays: per character, the positions in ``codes`` of the targets whose doc_chars hold it, and per
    # sound symbol those whose doc_sounds do; a question's coverage of every target is a few vector additions.
    code_at: dict[str, int] = field(default_factory=dict)  # code -> its position in ``codes``
    char_codes: dict[str, np.ndarray] = field(default_factory=dict)
    sound_codes: dict[str, np.ndarray] = field(default_factory=dict)
    _char_hits: dict[str, tuple[float, np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False,
                                                                       compare=False)
    _coverages: dict[tuple[str, ...], tuple[np.ndarray, float]] = field(default_factory=dict, repr=False,
                                                                        compare=False)
    operations: dict[str, frozenset[str]] = field(default_factory=dict)  # item code -> operations it marks
    bundle_codes: frozenset[str] = frozenset()
    bundle_items: dict[str, tuple[str, ...]] = field(default_factory=dict)  # bundle code -> its member items

    def bundle_kin(self, a: str, b: str) -> bool:
        """Is one of the two a 一件事 bundle and the other one of its member items?"""
        items = self.bundle_items
        return a in items.get(b, ()) or b in items.get(a, ())

    def content(self, text: str) -> str:
        """The normalised text without question and function words (HMM off: no invented words like 狗要)."""
        done = self._contents.get(text)  # (one answer asks for the same few texts ~15 times)
        if done is None:
            if len(self._contents) >= CONTENTS_KEPT:
                self._contents.clear()
            done = self._contents[text] = "".join(self.content_words(text))
        return done

    def coverages(self, chars: list[str]) -> tuple[np.ndarray, float]:
        """(kb.retrieval.coverage's share for every target in ``codes`` order, the chars' total idf weight)."""
        key = tuple(chars)
        done = self._coverages.get(key)  # (one answer asks for the same few lists ~80 times, one target each)
        if done is None:
            if len(self._coverages) >= ANSWER_KEPT:
                self._coverages.clear()
            got = np.zeros(len(self.codes))
            total = 0.0
            for ch in chars:  # (in order, one addition per character: the same float sums as one target at a time)
                weight, own, heard = self._char_hit(ch)
                total += weight
                got[own] += weight
                got[heard] += weight * 0.3
            done = self._coverages[key] = (got / total if total else got, total)
        return done

    def _char_hit(self, ch: str) -> tuple[float, np.ndarray, np.ndarray]:
        """(idf weight of the character, targets holding it, targets holding only its sound); at most one entry
        per character ever asked about."""
        done = self._char_hits.get(ch)
        if done is None:
            own = self.char_codes.get(ch, _NONE)
            heard = np.setdiff1d(self.sound_codes.get(sound_key(ch), _NONE), own)
            done = self._char_hits[ch] = (self.idf.get("#" + ch, self.max_idf), own, heard)
        return done

    def content_words(self, text: str) -> list[str]:
        """The words of ``content(text)``."""
        return [w for w in self.tokenizer.cut(text, HMM=False) if w not in STOPWORDS and not w.isspace()]

    def content_chars(self, content: str) -> list[str]:
        return [ch for ch in dict.fromkeys(content) if "\u4e00" <= ch <= "\u9fff" and ch not in STOP_CHARS]

    def terms(self, text: str) -> list[str]:
        """Content terms of an already-normalised text: words, single characters and sound bigrams."""
        done = self._terms.get(text)  # (ranking and the ranker's features both ask, jieba cuts it once)
        if done is None:
            if len(self._terms) >= ANSWER_KEPT:
                self._terms.clear()
            content = self.content(text)
            words = [w for w in self.tokenizer.cut_for_search(content, HMM=False)
                     if len(w) >= 2 and w not in STOPWORDS]
            chars = ["#" + ch for ch in self.content_chars(content)]
            done = self._terms[text] = tuple(words + chars + ["~" + b for b in syllable_bigrams(sound_key(content))])
        return list(done)


_TOKENIZERS: dict[frozenset[str], jieba.Tokenizer] = {}
_NONE = np.zeros(0, np.intp)


def _tokenizer(words: set[str]) -> jieba.Tokenizer:
    # jieba loads its 20 MB dictionary per Tokenizer; reuse one per domain vocabulary (rebuilds after KB edits
    # that add no new words cost nothing).
    key = frozenset(words)
    tok = _TOKENIZERS.get(key)
    if tok is None:
        base = next(iter(_TOKENIZERS.values()), None)
        tok = jieba.Tokenizer()
        if base is not None:  # share the already-parsed default dictionary
            tok.FREQ, tok.total, tok.initialized = dict(base.FREQ), base.total, True
        else:
            jieba.setLogLevel(40)
            tok.initialize()
        for word in sorted(words):
            if len(word) >= 2:
                tok.add_word(word, freq=2000)
        _TOKENIZERS.clear()
        _TOKENIZERS[key] = tok
    return tok


def build_index(kb: KnowledgeBase) -> Index:
    items = kb.items()
    vocab: set[str] = set()
    for item in items:
        vocab.update([item.name, *item.aliases, *(m.name for m in item.materials)])
    for bundle in kb.bundles:
        vocab.update([bundle.name, *bundle.aliases])
    index = Index(kb=kb, tokenizer=_tokenizer({normalise(w) for w in vocab}))

    dept_names = {d.code: d for d in kb.departments}
    fields_by_code: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        dept = dept_names[item.department]
        index.names[item.code] = item.name
        index.departments[item.code] = dept.name
        index.operations[item.code] = marked_operations(normalise(item.name), [normalise(a) for a in item.aliases])
        fields = [("name", item.name), *(("alias", a) for a in item.aliases)]
        fields += [("faq", f.q) for f in item.faq]
        fields += [("material", m.name) for m in item.materials]
        fields += [("condition", c) for c in item.conditions]
        fields.append(("department", dept.short_name))
        fields_by_code[item.code] = fields
        for f in item.faq:
            q = normalise(f.q)
            index.faqs.append(FaqEntry(item.code, q, sound_key(q), f.a))
    index.bundle_codes = frozenset(b.code for b in kb.bundles)
    index.bundle_items = {b.code: tuple(b.items) for b in kb.bundles}
    for bundle in kb.bundles:
        index.names[bundle.code] = bundle.name
        # A 一件事 is asked for by its steps ("执照、税务、公章都要改，能一起办吗"): its note and its members' names and
        # aliases are its words too, weaker than its own names.
        fields = [("name", bundle.name), *(("alias", a) for a in bundle.aliases)]
        if bundle.note:
            fields.append(("note", bundle.note))
        members = [i for i in items if i.code in set(bundle.items)]
        fields += [("member", w) for i in members for w in (i.name, *i.aliases)]
        fields_by_code[bundle.code] = fields

    # Material names and FAQ texts repeat across items: segment each distinct text once.
    terms_of: dict[str, list[str]] = {}
    for code, fields in fields_by_code.items():
        tf: dict[str, float] = defaultdict(float)
        chars: set[str] = set()
        for kind, text in fields:
            norm = normalise(text)
            if kind in COVERAGE_FIELDS:
                chars.update(norm)
            if kind in ("name", "alias"):
                index.phrases.append(Phrase(norm, sound_key(norm), code, kind == "name"))
            terms = terms_of.get(norm)
            if terms is None:
                terms = terms_of[norm] = index.terms(norm)
            for term in terms:
                # Conditions lend their words only: their single characters and syllable pairs would give every
                # item a little score for anything ("今天天气" ~ 满半年的"天").
                if kind != "condition" or term[0] not in TERM_WEIGHTS:
                    tf[term] += FIELD_WEIGHTS[kind]
        index.doc_len[code] = sum(tf.values())
        index.doc_chars[code] = frozenset(chars)
        index.doc_sounds[code] = frozenset(sound_key("".join(sorted(chars))))
        for term, weight in tf.items():
            index.postings.setdefault(term, {})[code] = weight

    with_symbol: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(index.phrases):
        for sym in p.symbols:
            with_symbol[sym].append(i)
        if len(p.key) >= 4:
            index.phrase_starts.setdefault(p.key[:2], []).append(p)
        elif len(p.key) == 2:
            index.pairs.setdefault(p.key[0], []).append(p)
        for whole, by in ((p.text, index.phrases_by_text), (p.key, index.phrases_by_key)):
            for n in range(2, len(whole)):
                by.setdefault(whole[:n], [])
            if len(whole) >= 2:
                by.setdefault(whole, []).append(i)
    index.with_symbol = {sym: np.array(at, np.int32) for sym, at in with_symbol.items()}
    index.phrase_syllables = np.array([len(p.symbols) for p in index.phrases], np.int32)
    index.phrase_wrong = np.array([1 if len(p.key) <= 4 else 2 for p in index.phrases], np.int32)
    index.phrase_len = np.array([len(p.key) for p in index.phrases], np.int32)
    n = max(len(fields_by_code), 1)
    index.avg_len = sum(index.doc_len.values()) / n if index.doc_len else 1.0
    index.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in index.postings.items()}
    index.max_idf = math.log(1 + (n + 0.5) / 0.5)
    index.codes = list(fields_by_code)
    at = index.code_at = {code: i for i, code in enumerate(index.codes)}
    char_codes: dict[str, list[int]] = defaultdict(list)
    sound_codes: dict[str, list[int]] = defaultdict(list)
    for code in index.codes:
        for ch in index.doc_chars[code]:
            char_codes[ch].append(at[code])
        for sym in index.doc_sounds[code]:
            sound_codes[sym].append(at[code])
    index.char_codes = {ch: np.array(js, np.intp) for ch, js in char_codes.items()}
    index.sound_codes = {sym: np.array(js, np.intp) for sym, js in sound_codes.items()}
    for term, postings in index.postings.items():
        norms = [tf * (K1 + 1) / (tf + K1 * (1 - B + B * index.doc_len[code] / index.avg_len))
                 for code, tf in postings.items()]
        index.bm25_terms[term] = (np.array([at[code] for code in postings], np.intp), np.array(norms))
    return index
