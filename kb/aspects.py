"""Which part of an item the caller asks about (kb.api.ASPECTS), from weighted cue phrases.

Specific cues (条件, 多少钱, 几天, 网上...) outweigh generic ones (需要什么, 怎么办), so "需要什么条件" is conditions
and "网上怎么办" is online. One rule for "how" (the labelling rule in tests/kb/questions.yaml): any how-question
(怎么办, 怎么弄, 怎么申请, 怎么补...) asks for the process; "要办哪些手续"/"要办什么证" with nothing more specific is
"general" (what does it involve); "能办X吗"/"可以…吗" with nothing more specific asks about the conditions.
The caller's item name is masked before classifying (the QA layer does that), so a cue inside a name ("复印材料")
does not count, and in a story-like question the asking clause (the last one) decides.

Cues are also matched by sound (kb.text sound keys, tones ignored), because the recogniser writes sound-alikes:
带什么 -> 待什么/戴什么, 多久 -> 多酒, 预约 -> 语约, 在哪 -> 再哪. A cue found only by sound counts a little less than
the written cue, and one found with a near syllable (系到家 for 寄到家) less again, so typed text, where the
written cues are present, classifies as before.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kb.api import ASPECTS
from kb.text import sound_key, symbol_similarity

STRONG, MEDIUM, WEAK = 3.0, 2.0, 1.0

CUES: dict[str, dict[str, float]] = {
    "materials": {
        "材料": STRONG, "带什么": STRONG, "带啥": STRONG, "拿什么": STRONG, "带哪些": STRONG, "要带": STRONG,
        "准备什么": STRONG, "准备哪些": STRONG, "提交什么": STRONG, "全部材料": STRONG, "带上": MEDIUM,
        "需要什么": MEDIUM, "要什么": MEDIUM, "资料": STRONG, "证件": MEDIUM, "复印件": MEDIUM, "原件": MEDIUM,
        "照片": MEDIUM, "户口本": WEAK, "身份证": WEAK,
    },
    "location": {
        "在哪": STRONG, "哪里": MEDIUM, "哪儿": MEDIUM, "什么地方": STRONG, "哪个窗口": STRONG, "几号窗口": STRONG,
        "地址": STRONG, "几楼": STRONG, "去哪": STRONG, "交到哪": STRONG + 0.5, "送到哪": STRONG + 0.5,
        "交哪里": STRONG + 0.5, "哪里交": STRONG + 0.5, "到哪": MEDIUM, "怎么走": STRONG, "位置": MEDIUM,
        "窗口": WEAK, "的地方": MEDIUM,
    },
    "hours": {
        "几点": STRONG, "上班": STRONG, "下班": STRONG, "开门": STRONG, "关门": STRONG, "办公时间": STRONG,
        "中午": STRONG, "午休": STRONG, "节假日": STRONG, "放假": STRONG, "晚上": MEDIUM, "什么时候可以": WEAK,
        "半夜": MEDIUM, "深夜": MEDIUM, "夜里": MEDIUM, "凌晨": MEDIUM,
    },
    "time_limit": {
        "多久": STRONG, "多长时间": STRONG, "几天": STRONG, "多少天": STRONG, "几个工作日": STRONG, "当场": STRONG,
        "当天": STRONG, "马上": MEDIUM, "办结": STRONG, "时限": STRONG, "等多久": STRONG, "拿到": MEDIUM,
        "办下来": STRONG, "办好": MEDIUM, "出证": STRONG, "多快": STRONG, "什么时候能": STRONG, "批下来": STRONG,
        "期限": STRONG, "截止": STRONG, "什么时候之前": STRONG + 0.5, "最晚": STRONG,
    },
    "fee": {
        "多少钱": STRONG + 0.5, "钱": STRONG, "收费": STRONG, "费用": STRONG, "免费": STRONG, "交费": STRONG,
        "缴费": STRONG, "花钱": STRONG, "价格": STRONG, "工本费": STRONG, "交多少": STRONG, "要多少": MEDIUM,
        "付费": STRONG, "补多少": STRONG, "报多少": STRONG, "领多少": STRONG, "月多少": STRONG, "年多少": STRONG,
        "能补多少": STRONG + 0.5, "能报多少": STRONG + 0.5,
    },
    "process": {
        "流程": STRONG, "步骤": STRONG, "程序": STRONG, "怎么办理": MEDIUM, "如何办理": MEDIUM, "先干什么": STRONG,
        "怎么操作": STRONG, "怎么办": MEDIUM, "怎么弄": MEDIUM, "怎么搞": MEDIUM, "咋办": MEDIUM, "咋弄": MEDIUM,
        "怎么整": MEDIUM, "咋整": MEDIUM, "咋搞": MEDIUM, "哪能弄": MEDIUM, "哪能办": MEDIUM,  # (northern, Wu)
    },
    "conditions": {
        "条件": STRONG + 0.5, "资格": STRONG, "符合": STRONG, "要求": MEDIUM, "谁可以": STRONG, "哪些人": STRONG,
        "几个人": STRONG, "哪些场所": STRONG, "什么情况": STRONG, "限制": MEDIUM, "外地人": MEDIUM,
        "能不能": WEAK * 0.5, "可不可以": WEAK * 0.5, "能办吗": WEAK * 0.5, "能全部": MEDIUM,
        "什么人": STRONG, "谁能": STRONG, "谁来": MEDIUM, "多大年纪": STRONG, "多大岁数": STRONG, "几岁": MEDIUM, "够不够": MEDIUM,
    },
    "online": {
        "网上": STRONG, "手机上": STRONG, "手机": MEDIUM, "浙里办": STRONG, "线上": STRONG, "网办": STRONG,
        "app": STRONG, "网站": STRONG, "小程序": STRONG, "不用跑": STRONG, "去窗口吗": STRONG, "跑一趟": STRONG,
        "在家": MEDIUM, "电脑": MEDIUM,
    },
    "express": {
        "邮寄": STRONG + 0.5, "快递": STRONG + 0.5, "寄": STRONG + 0.5, "寄到家": STRONG, "寄过来": STRONG, "送到家": STRONG, "ems": STRONG, "包邮": STRONG,
        "送上门": STRONG + 1, "寄回": STRONG, "邮政": MEDIUM, "到付": STRONG,
    },
    "booking": {"怎么约": STRONG + 1, "预约": STRONG + 0.5, "约个时间": STRONG, "提前约": STRONG, "提前预约": STRONG + 0.5},
    # "5+2": can it be done on a Saturday (the answer says which hours, and whether any centre in the city takes it).
    "weekend": {
        "周末": STRONG + 0.5, "周六": STRONG + 0.5, "星期六": STRONG + 0.5, "礼拜六": STRONG + 0.5, "周日": STRONG + 0.5,
        "星期天": STRONG + 0.5, "星期日": STRONG + 0.5, "礼拜天": STRONG + 0.5, "礼拜日": STRONG + 0.5,
        "双休": STRONG + 0.5, "休息日": STRONG, "5+2": STRONG + 0.5, "五加二": STRONG + 0.5, "不上班的时候": STRONG,
    },
    # 容缺受理: a material is missing, can it be accepted now and the material follow later.
    "tolerance": {
        "容缺": STRONG + 1, "材料不全": STRONG + 1, "材料不齐": STRONG + 1, "不齐": STRONG, "不全": STRONG,
        "没带齐": STRONG + 1, "没带全": STRONG + 1, "缺材料": STRONG + 1, "缺一样": STRONG + 1, "少一样": STRONG + 1,
        "少了一样": STRONG + 1, "差一样": STRONG + 1, "缺了": MEDIUM, "少了": MEDIUM, "先受理": STRONG + 1,
        "后补": STRONG + 1, "补交": STRONG, "先收": STRONG + 1, "少份": STRONG + 1, "少一份": STRONG + 1,
        "缺份": STRONG + 1, "缺一份": STRONG + 1, "晚点交": STRONG, "过后再交": STRONG, "以后再交": STRONG,
        "先办着": STRONG, "还没拿到": MEDIUM, "还没开出来": MEDIUM, "还没出来": MEDIUM, "还没给": MEDIUM,
        "还没填好": MEDIUM, "先申请": MEDIUM, "先递": MEDIUM, "先把别的": STRONG,
    },
    "sample_form": {
        "样表": STRONG + 1, "样本": STRONG, "范本": STRONG, "模板": STRONG, "表格": STRONG, "下载": STRONG + 0.5,
        "怎么填": STRONG + 0.5, "填表": STRONG, "填写": MEDIUM, "申请表": MEDIUM, "表在哪": STRONG + 0.5,
        "打印表": STRONG,
    },
    "door_to_door": {
        "上门": STRONG + 0.5, "到家里来": STRONG + 1, "来家里": STRONG + 1, "到家里办": STRONG + 1,
        "出不了门": STRONG + 1, "出不了": MEDIUM, "行动不便": STRONG, "瘫痪": STRONG, "卧床": STRONG,
        "走不动": STRONG, "下不了床": STRONG, "来不了": MEDIUM,
    },
    "general": {"手续": WEAK, "什么证": WEAK, "办什么": WEAK, "哪些证": WEAK, "哪些事": WEAK, "都有什么": STRONG,
                "包括哪些": STRONG, "包括什么": STRONG, "都有哪些": MEDIUM},
}

# What the QA layer puts where the caller's item name was: a Han character that is no cue, so "怎么+名" still reads
# as "how to do it" (房贷还清了怎么解押 -> 房贷还清了怎么某).
NAME_MASK = "某"

# "怎么/如何 + a verb other than 办/弄/搞" asks for the steps: 怎么申请, 怎么领, 怎么换, 怎么交, 怎么挂失.
_HOW_VERB = re.compile(r"(怎么|如何|咋)(?!办|弄|搞|样|回事|走|去|过去)[\u4e00-\u9fff]")
# "能/可以 ... 吗" (may I, can it be done): asks about the conditions unless a more specific cue says otherwise.
_MAY = re.compile(r"(能|可以|可不可以)[\u4e00-\u9fff]{0,10}吗")
# "要/需要 … 吗" at the end (要批吗, 要重新备案吗, 还要报吗): is it required at all — the conditions, unless a more
# specific cue (要带身份证吗, 要钱吗, 要预约吗) says otherwise.
_NEED = re.compile(r"(要|需要|得)[\u4e00-\u9fff]{1,8}吗$")


# A cue heard only by sound is a little less certain than the written cue; one with a near syllable (symbol_similarity
# below 1: 系到家 for 寄到家) less again. Near syllables only in cues of 3+ syllables: in two-syllable cues one near
# syllable is half the cue, and 几天/几点 or 要求/要去 would swap aspects.
SOUND_FACTOR, NEAR_FACTOR = 0.9, 0.6
NEAR_MIN_SYLLABLES = 3
NEAR_SIMILARITY = 0.7
_HAN_ONLY = re.compile(r"[\u4e00-\u9fff]+")


@lru_cache(maxsize=1)
def _sound_cues() -> tuple[tuple[str, float, str], ...]:
    """(aspect, weight, sound key) of every Han cue of two or more characters; one character ("钱", "寄") by sound
    would match half the syllables callers say (前, 几)."""
    return tuple((aspect, w, sound_key(c)) for aspect, cues in CUES.items() for c, w in cues.items()
                 if len(c) >= 2 and _HAN_ONLY.fullmatch(c))


@lru_cache(maxsize=1)
def _written_cues() -> frozenset[str]:
    return frozenset(c for cues in CUES.values() for c in cues)


def _heard_at(cue: str, key: str, near: bool) -> list[int]:
    """Where ``cue`` (a sound key) is heard in ``key``: the same syllables, or with ``near`` at most one syllable
    merely similar (symbol_similarity >= NEAR_SIMILARITY) and the others the same."""
    n = len(cue)
    found = []
    for i in range(len(key) - n + 1):
        window = key[i : i + n]
        if window == cue:
            found.append(i)
        elif near:
            sims = [symbol_similarity(a, b) for a, b in zip(cue, window, strict=True)]
            if min(sims) >= NEAR_SIMILARITY and sum(s < 1.0 for s in sims) <= 1:
                found.append(i)
    return found


def _sound_scores(text: str) -> dict[str, float]:
    key = sound_key(text)  # one symbol per character, so positions in key are positions in text
    syllables = set(key)
    written = _written_cues()
    scores: dict[str, float] = {}
    for aspect, weight, cue in _sound_cues():
        n = len(cue)
        near = n >= NEAR_MIN_SYLLABLES and len(syllables.intersection(cue)) >= n - 1
        if not near and cue not in key:
            continue
        for i in _heard_at(cue, key, near):
            # A written cue that merely sounds like another (晚上/网上 fold to one key) is itself, not a mishearing.
            if text[i : i + n] in written and text[i : i + n] not in CUES[aspect]:
                continue
            w = weight * (SOUND_FACTOR if key[i : i + n] == cue else NEAR_FACTOR)
            scores[aspect] = max(scores.get(aspect, 0.0), w)
    return scores


@lru_cache(maxsize=4096)  # pure; the QA layer classifies the same clause more than once per question
def cue_scores(text: str) -> tuple[tuple[str, float], ...]:
    """The strongest cue of each aspect heard in ``text`` (aspects without one are left out); kb.aspect_model
    learns from all of them, `classify` takes the strongest."""
    scores = _sound_scores(text)
    for aspect, cues in CUES.items():
        best = max((w for c, w in cues.items() if c in text), default=0.0)
        if best:
            scores[aspect] = max(scores.get(aspect, 0.0), best)
    if _HOW_VERB.search(text):
        scores["process"] = max(scores.get("process", 0.0), MEDIUM)
    if _MAY.search(text) or _NEED.search(text):
        scores["conditions"] = max(scores.get("conditions", 0.0), WEAK)
    return tuple(scores.items())


@lru_cache(maxsize=4096)
def classify(text: str) -> tuple[str, float]:
    """(aspect, strength); strength 0 means no cue at all, aspect "general"."""
    scores = dict(cue_scores(text))
    if not scores:
        return "general", 0.0
    order = list(CUES)
    aspect = max(scores, key=lambda a: (scores[a], -order.index(a)))
    assert aspect in ASPECTS
    return aspect, scores[aspect]


@lru_cache(maxsize=1)
def _strippable() -> tuple[str, ...]:
    # Weak cues (身份证, 户口本, 怎么办) can also be item words; they stay. Longest first; ties by text, so the
    # result is the same in every process.
    cues = {c for group in CUES.values() for c, w in group.items() if len(c) >= 2 and w >= MEDIUM}
    return tuple(sorted(cues, key=lambda c: (-len(c), c)))


@lru_cache(maxsize=4096)  # (one answer strips the same question several times)
def strip_cues(text: str) -> str:
    """The text without aspect cue phrases (they say what is asked, not which item)."""
    for cue in _strippable():
        text = text.replace(cue, " ")
    return text


def classify_question(text: str, last_clause: str) -> tuple[str, float]:
    """Like `classify`, but a clear cue in the last clause (where callers put the question after the story) wins:
    "我家里条件比较困难，低保要怎么申请" asks for the process, not the conditions."""
    if last_clause and last_clause != text:
        aspect, strength = classify(last_clause)
        if strength >= MEDIUM:
            return aspect, strength
    return classify(text)
