"""Text normalisation for spoken Mandarin questions: fillers out, punctuation out, and sound keys for pinyin matching.

A "sound key" maps every Han character to one symbol per toneless, accent-folded syllable, so homophone ASR errors
(公鸡金/公积金, 是民卡/市民卡, 居住正/居住证) become identical strings and a plain ``in`` finds them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

# Said before or around the real question; removed longest first. Single characters only at the edges.
FILLERS = (
    "我想咨询一下", "我想问一下", "我想问下", "想问一下", "麻烦问一下", "麻烦问下", "我想了解一下", "我想咨询",
    "请问一下", "问一下", "请问", "你好", "您好", "那个", "这个这个", "就是说", "就是", "然后呢", "然后", "怎么说呢",
    "喂喂", "嗯嗯", "我问一下", "打扰一下", "谢谢", "问问", "一下", "那啥", "这样子", "这样的",
)
EDGE_FILLERS = "喂嗯啊呃哦唉哎呀吧呢嘛哈诶"
# Hesitations said anywhere in a spoken sentence; none of them is part of a service word.
HESITATIONS = re.compile(r"[嗯呃啊哦]+")
# Regional and colloquial words (Wu: 侬/伐/晓得/几钿; northern: 咋/啥/整) folded to the standard words the cues
# and the KB use, longest first. 弄/搞/整 are all "do" in a service question (咋整 = 怎么办).
REGIONAL = (
    ("咋整", "怎么办"), ("怎么整", "怎么办"), ("咋弄", "怎么办"), ("咋搞", "怎么办"), ("咋办", "怎么办"), ("哪能办", "怎么办"),
    ("啥辰光", "什么时候"), ("啥时候", "什么时候"), ("啥地方", "什么地方"), ("几钿", "多少钱"), ("多少钞票", "多少钱"),
    ("钞票", "钱"), ("铜钿", "钱"), ("弄得了", "能办"), ("办得了", "能办"), ("搿搭", "这里"), ("晓得", "知道"), ("阿拉", "我们"), ("侬", "你"), ("木有", "没有"), ("么得", "没有"),
    ("一道办", "一起办"), ("一道弄", "一起办"), ("一道", "一起"), ("事体", "事情"), ("小囡", "孩子"), ("屋里", "家里"),
    ("咋个", "怎么"), ("啷个", "怎么"), ("咋", "怎么"), ("啥", "什么"), ("弄", "办"), ("搞", "办"),
)
# Wu's question particle 伐 (= 吗) at the end of a clause; 砍伐/采伐/征伐 keep it.
_FA = re.compile(r"(?<![砍采征讨步])伐(?=$|[\s,.!?;，。！？；])")
# Wu "好 + verb … 伐" is "can one …?" (好申请伐 = 能申请吗); 好 before other words stays (好几天, 好的).
_HAO = re.compile(r"好(?=[\u4e00-\u9fff]{1,10}伐(?:$|[\s,.!?;，。！？；]))(?![几多久的像些])")
# Life events said as what happened ("生了孩子", "老婆刚生完小孩") folded into the words the 一件事 bundles and their
# aliases use ("孩子出生"); applied to questions and KB alike, so 生孩子登记 and 生了小孩 meet.
LIFE_EVENTS = (
    (re.compile(r"(?:生了|生完|生下|添了|刚生)(?:个|一个|了)?(?:孩子|小孩|宝宝|娃|小宝宝|儿子|女儿)"), "孩子出生"),
    (re.compile(r"(?:孩子|小孩|宝宝|娃|小宝宝|新生儿)(?:刚|已经)?(?:出生|生下来|落地)"), "孩子出生"),
    (re.compile(r"生(?:孩子|小孩|宝宝)"), "孩子出生"),
)
# Ways of saying "lost" folded into the one the aliases use (身份证丢了, 营业执照丢了); applied to questions and KB alike.
# (弄丢/搞丢 are 办丢 once 弄/搞 are folded.)
SYNONYMS = (("办丢", "丢"), ("丢掉", "丢"), ("落掉", "丢"), ("掉掉", "丢"), ("找不到了", "丢了"), ("不见了", "丢了"))
_VERB_GE = re.compile(r"(?<=[开办挂刻考领补换搞弄做])个(?![体人税])")
_PUNCT = re.compile(r"[\s\u3000,.!?;:'\"()\[\]{}<>，。！？；：、“”‘’（）【】《》…—\-~～·]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@lru_cache(maxsize=32768)  # pure; the index build normalises the same material names hundreds of times
def normalise(text: str) -> str:
    """NFKC, lower case, no punctuation or spaces, regional words folded, fillers and hesitations removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _HAO.sub("能", text)
    text = _FA.sub("吗", text)
    text = _PUNCT.sub("", text)
    for said, canonical in REGIONAL:
        text = text.replace(said, canonical)
    for filler in FILLERS:
        text = text.replace(filler, "")
    text = HESITATIONS.sub("", text)
    for pattern, canonical in LIFE_EVENTS:
        text = pattern.sub(canonical, text)
    for said, canonical in SYNONYMS:
        text = text.replace(said, canonical)
    text = _VERB_GE.sub("", text)
    return text.strip(EDGE_FILLERS) or text


# Accent folding: southern speakers and 8 kHz audio blur these, so they share a key.
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


@lru_cache(maxsize=4096)
def _fold(syllable: str) -> str:
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
            break
    if syllable.startswith("n") and not syllable.startswith("ng"):
        syllable = "l" + syllable[1:]
    for a, b in _FINALS:
        if syllable.endswith(a):
            syllable = syllable[: -len(a)] + b
            break
    return syllable


_SYMBOLS: dict[str, str] = {}


def _symbol(syllable: str) -> str:
    # One private-use character per folded syllable, so substring search works on syllable boundaries.
    sym = _SYMBOLS.get(syllable)
    if sym is None:
        sym = _SYMBOLS[syllable] = chr(0xE000 + len(_SYMBOLS))
        _SYLLABLES[sym] = syllable
    return sym


@lru_cache(maxsize=16384)
def _char_symbol(ch: str) -> str:
    if not _HAN.match(ch):
        return ch
    return _symbol(_fold(lazy_pinyin(ch, style=Style.NORMAL)[0]))


@lru_cache(maxsize=65536)
def sound_key(text: str) -> str:
    """One symbol per character: Han characters by folded pinyin (each character's usual reading, so the same
    character always gets the same key in questions and in the KB), anything else as itself."""
    return "".join(map(_char_symbol, text))


_SYLLABLES: dict[str, str] = {}  # symbol -> folded syllable (the inverse of _SYMBOLS)
# Folded initials, longest first so "zh" would win over "z" (folding has already merged them).
_INITIAL_LIST = ("b", "p", "m", "f", "d", "t", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s", "y", "w")
# What Whisper mixes up on 8 kHz telephone audio besides the folded pairs: aspirated/unaspirated (狗/口, 办/盼),
# the palatal and dental sibilants (市/序, 证/进), h/f, l/r, y/w/none. 1 = same, these = partly the same.
_NEAR_INITIALS = {
    frozenset(pair): 0.75
    for pair in ("bp", "dt", "gk", "kh", "gh", "jq", "qx", "jx", "jz", "qc", "xs", "zc", "cs", "zs", "fh", "lr", "yw")
}
_NEAR_FINALS = {
    frozenset(pair): 0.7
    for pair in (("i", "u"), ("i", "v"), ("u", "v"), ("en", "in"), ("an", "ian"), ("ou", "u"), ("uo", "o"),
                 ("e", "o"), ("e", "ei"), ("ai", "ei"), ("ui", "ei"), ("un", "en"), ("ie", "ue"), ("iu", "ou"),
                 ("ao", "ou"), ("on", "en"), ("ion", "on"), ("in", "ian"), ("u", "uo"), ("i", "ie"), ("i", "ei"),
                 ("uan", "ian"), ("uan", "an"), ("van", "ian"))
}


def _split(syllable: str) -> tuple[str, str]:
    for ini in _INITIAL_LIST:
        if syllable.startswith(ini) and len(syllable) > len(ini):
            return ini, syllable[len(ini):]
    return "", syllable


@lru_cache(maxsize=65536)
def symbol_similarity(a: str, b: str) -> float:
    """How alike two sound-key symbols sound, 0..1: 1 the same folded syllable, ~0.75 one confusable initial or
    final, ~0.5 both, 0 unrelated (or not Han characters)."""
    if a == b:
        return 1.0
    sa, sb = _SYLLABLES.get(a), _SYLLABLES.get(b)
    if sa is None or sb is None:
        return 0.0
    (ia, fa), (ib, fb) = _split(sa), _split(sb)
    ini = 1.0 if ia == ib else _NEAR_INITIALS.get(frozenset((ia, ib)), 0.0) if ia and ib else 0.0
    if ia != ib and not ini and {ia, ib} <= {"", "y", "w"}:
        ini = 0.75  # 一/衣/乌: the glides are spelling, not sound
    fin = 1.0 if fa == fb else _NEAR_FINALS.get(frozenset((fa, fb)), 0.0)
    return ini * fin


def syllable_bigrams(key: str) -> list[str]:
    return [key[i : i + 2] for i in range(len(key) - 1)]


def longest_shared_run(part: str, whole: str) -> int:
    """Length of the longest substring of ``part`` found in ``whole``. From each start the run only grows while it is
    still in ``whole`` (a substring's prefixes are in it too), so this is ~len(part) searches, not one per stretch."""
    best = 0
    for i in range(len(part)):
        if len(part) - i <= best:
            break
        end = i + best + 1  # only a run longer than the best so far matters
        while end <= len(part) and part[i:end] in whole:
            end += 1
        best = max(best, end - 1 - i)
    return best
