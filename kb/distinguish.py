"""Does the question itself decide between two close targets? Then answer, do not ask.

The engine asks "您问的是A还是B？" only when the two best targets are close AND nothing the caller said tells them
apart. What tells them apart, in order, all read from the KB (names, aliases, bundles), never listed per item:
- the operation (kb.operations): "要办狗证" is the first issue, "狗证年检" the annual check, "注消" (heard) 注销;
- a qualifier one sibling has and the other lacks (分公司注销 vs 公司注销: 分 said or not; 临时身份证);
- a "together" word for a 一件事 bundle against one of its items ("一起办", "一次申请", "哪些手续");
- a word in one target's names and aliases and in none of the other's ("大学生" in 大学生租房补贴).
"""

from __future__ import annotations

import re

from kb.index import STOP_CHARS, STOPWORDS, Index
from kb.operations import operation_factor, qualifier_said, said_operations, siblings
from kb.text import sound_key

# Said when the caller wants the whole life event at one window rather than one of its items.
TOGETHER = re.compile(r"一起办|一起申请|一起弄|一起交|一次办|一次申请|一次性办|一件事|一个窗口|一窗|全套|全流程|一条龙|"
                      r"哪些手续|哪些证|一起|哪些事|办哪些东西|这些证|这些手续|这些事|都要办|都要改|全部办|"
                      r"全部弄|一次帮办|一次能办")


# 一件事 as a recogniser may write it (一见事, 一建事): the name of the thing asked for, heard by sound.
_ONE_THING = sound_key("一件事")


def together(text: str) -> bool:
    # "第一次办市民卡" is a first issue, not "一次办" (all at once).
    text = text.replace("第一次", "")
    return bool(TOGETHER.search(text)) or _ONE_THING in sound_key(text)


def _words(index: Index, code: str) -> set[str]:
    words: set[str] = set()
    for p in index.phrases:
        if p.code == code:
            words.update(w for w in index.tokenizer.cut(p.text, HMM=False) if len(w) >= 2 and w not in STOPWORDS)
    return words


def decide(index: Index, text: str, a: str, b: str, bare: bool = False) -> str | None:
    """The one of ``a``, ``b`` (item or bundle codes) the question points at, or None when it does not say.
    ``bare``: the question is little more than the thing ("市民卡"): no operation unsaid counts against either."""
    bundles = index.bundle_codes
    if (a in bundles) != (b in bundles):
        bundle, item = (a, b) if a in bundles else (b, a)
        return bundle if together(text) else item
    names = index.names
    if siblings(names[a], names[b]):
        said = said_operations(text)
        fa = operation_factor(index.operations.get(a, frozenset()), said)
        fb = operation_factor(index.operations.get(b, frozenset()), said)
        if fa != fb and (said or not bare):
            return a if fa > fb else b
        for x, y in ((a, b), (b, a)):
            q = qualifier_said(names[x], names[y], text)
            if q is not None:
                return x if q else y
    wa, wb = _words(index, a), _words(index, b)
    only_a = any(w in text for w in wa - wb if not any(w in v for v in wb))
    only_b = any(w in text for w in wb - wa if not any(w in v for v in wa))
    if only_a != only_b:
        return a if only_a else b
    # One of them named as written, the other not at all ("解押" is 抵押权注销登记's own word; 车辆解押 not said).
    said_a, said_b = _named(index, a, text), _named(index, b, text)
    if said_a != said_b:
        return a if said_a else b
    # Characters the question shares with one target's names only ("执照丢了": 执照 is in none of 居住证's names).
    ca, cb = _chars(index, a), _chars(index, b)
    asked = set(text) - STOP_CHARS
    only_a, only_b = bool(asked & (ca - cb)), bool(asked & (cb - ca))
    if only_a != only_b:
        return a if only_a else b
    return None


def _named(index: Index, code: str, text: str) -> bool:
    return any(p.code == code and len(p.text) >= 2 and p.text in text for p in index.phrases)


def _chars(index: Index, code: str) -> set[str]:
    return {ch for p in index.phrases if p.code == code for ch in p.text}
