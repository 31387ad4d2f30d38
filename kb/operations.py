"""What the caller wants done to a thing (first issue, change, renew, replace, cancel...) and which items do it.

Items often come in families over one certificate or registration: 养犬登记证核发 / 年检, 合作社设立 / 变更 / 注销,
身份证换领 / 补领. Their names share the thing and differ by the operation, so the thing alone cannot rank them.
The operation decides: an item whose name or aliases mark an operation (补领, 变更, 注销, 年检...) needs the caller
to say that operation (or a word for it: 丢了, 改, 不干了, 到期); an item that marks none is the first issue, what
a caller means by "办X" / "要办证". This is data-driven per item (its own name and aliases); the word groups below
are the only vocabulary, one per operation, not per item.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kb.text import sound_key

CREATE = "create"
# Operation -> words that say it, in item names as well as in questions. Single characters are guarded where they
# also start unrelated words (补贴, 换乘, 查询...).
OPERATIONS: dict[str, re.Pattern[str]] = {
    # "办护照", "要办狗证": 办 with no other operation is the first issue (补办, 代办, 怎么办 are not).
    CREATE: re.compile(r"首次|第一次|新办|设立|核发|新申请|初次|申领|新开|成立|开办|从来没|(?<![补重换代帮承协么咋])办"),
    "renew": re.compile(r"重新办|重办|年检|年审|续期|延续|续签|续租|续办|到期|过期|期满|换领|换发|换证|换本|换新|快到期|有效期"),
    "replace": re.compile(r"重新办|重办|补领|补办|补发|补证|补换|补打|补一|补个|补张|补本|补(?=[^贴助充偿缴交税录考课])|丢|遗失|"
                          r"掉了|找不到|被偷|损坏|坏了|破了|挂失|不见"),
    "change": re.compile(r"换地址|地址变|迁址|换名字|换名称|变更|更改|更正|修改|改名|改成|改为|改(?=[^革造建善进])|换法人|换股东|增加|减少|调整|迁移|搬"),
    "cancel": re.compile(r"注销|撤销|解除|解押|歇业|停业|解散|清算|不干了|不做了|关掉|关门|退出|吊销"),
    "sign": re.compile(r"签注|再次签注|一年一签|签(?![订约字名合证发])"),
}
UNSAID = 0.7  # an item marked with an operation the caller did not say
OTHER_SAID = 0.85  # a first-issue item when the caller said another operation
SAID = 1.25  # an item marked with the operation the caller said


# The plain words of each pattern (two characters or more), matched by sound too: the recogniser writes 注消, 年减.
_WORDS = {op: tuple(w for w in p.pattern.split("|") if len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w))
          for op, p in OPERATIONS.items()}


@lru_cache(maxsize=8192)
def said_operations(text: str) -> frozenset[str]:
    """Operations a (normalised) question says, in its characters or by sound."""
    found = {op for op, pattern in OPERATIONS.items() if pattern.search(text)}
    key = sound_key(text)
    found |= {op for op, words in _WORDS.items() if op not in found and any(sound_key(w) in key for w in words)}
    if len(found) > 1:
        found.discard(CREATE)  # "身份证丢了去哪办": the loss says which, the 办 does not
    return frozenset(found)


def marked_operations(name: str, aliases: list[str]) -> frozenset[str]:
    """The operations an item's name marks, plus those every alias agrees on; no mark means the first issue."""
    ops = set(said_operations(name)) - {CREATE}
    if aliases:
        # An operation said by every alias is the item's even if the official name hides it (公租房续租 is in the
        # name, 狗证年检 only in aliases of 养犬登记证年检 — and its name says 年检 too).
        common = set.intersection(*(set(said_operations(a)) for a in aliases)) - {CREATE}
        ops |= common
    return frozenset(ops)


def operation_factor(marked: frozenset[str], said: frozenset[str]) -> float:
    """How much the operation the caller said fits an item marked ``marked`` (1 = no information)."""
    if (marked or {CREATE}) & said:
        return SAID
    if marked:
        return UNSAID
    if said - {CREATE}:
        return OTHER_SAID
    return 1.0


# Words every kind of item has; what is left of a name without them and the operations is the thing it is about.
_GENERIC = re.compile(r"登记|许可证?|申请|审批|证明|办理|服务|备案|认定|申报|核准|开具|确认|签发|手续|业务|证书?|和|及|与|的|"
                      r"[（）()]")


@lru_cache(maxsize=8192)
def thing(name: str) -> str:
    """The thing an item is about: its name without operation and generic words (合作社 of 合作社变更登记)."""
    name = name.replace("办理", "")  # generic, but its 办 would otherwise go as an operation and leave 理
    for pattern in OPERATIONS.values():
        name = pattern.sub("", name)
    return _GENERIC.sub("", name)


@lru_cache(maxsize=8192)  # (every pair of a pool, ~150 per answer; few distinct pairs)
def siblings(a: str, b: str) -> bool:
    """Do two item names share their thing (at least two characters in a row), so only the operation tells them
    apart? 合作社设立登记 / 合作社变更登记 do; 城市树木迁移砍伐审批 / 农用地转用审查 do not."""
    ta, tb = thing(a), thing(b)
    return any(ta[i : i + 2] in tb for i in range(len(ta) - 1))


def qualifier_said(name: str, other: str, text: str) -> bool | None:
    """For a more specific sibling (its thing holds the other's and more): was the extra said? None if neither is
    more specific than the other."""
    mine, theirs = thing(name), thing(other)
    if not theirs or theirs == mine or theirs not in mine:
        return None
    extra = mine.replace(theirs, "", 1)
    if not extra:
        return None
    key = sound_key(text)
    pieces = [extra] if len(extra) < 2 else [extra[i : i + 2] for i in range(len(extra) - 1)]
    return any(sound_key(p) in key for p in pieces)
