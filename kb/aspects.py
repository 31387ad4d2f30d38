"""Which part of an item the caller asks about (kb.api.ASPECTS), from cue phrases.

Cues are weighted and the longest cues win ties, so "几点" (hours) and "几天" (time limit) or "怎么收费" (fee)
and "怎么办" (process) stay apart. Questions with no cue are "general".
"""

from __future__ import annotations

from kb.api import ASPECTS

CUES: dict[str, tuple[str, ...]] = {
    "materials": (
        "材料", "带什么", "带啥", "拿什么", "带哪些", "准备什么", "准备哪些", "要什么东西", "需要什么", "要哪些",
        "资料", "证件", "要带", "带上", "提交什么", "全部材料", "复印件", "原件", "照片", "手续",
    ),
    "location": (
        "在哪", "哪里办", "哪儿", "什么地方", "哪个窗口", "几号窗口", "窗口", "地址", "几楼", "哪个区", "去哪",
        "到哪", "怎么走", "位置", "在什么位置", "哪里",
    ),
    "hours": (
        "几点", "上班时间", "办公时间", "开门", "关门", "下班", "上班", "周末", "周六", "星期六", "周日", "星期天",
        "礼拜六", "礼拜天", "双休", "中午", "午休", "节假日", "晚上", "什么时候开", "营业时间",
    ),
    "time_limit": (
        "多久", "多长时间", "几天", "多少天", "几个工作日", "什么时候能拿", "什么时候拿", "当场", "当天", "马上",
        "办结", "时限", "要等", "等多久", "能拿到", "拿到", "出证", "快不快", "多快",
    ),
    "fee": (
        "多少钱", "钱", "收费", "费用", "免费", "交费", "缴费", "花钱", "价格", "工本费", "要不要钱", "付费",
    ),
    "process": (
        "流程", "步骤", "怎么办理", "如何办理", "程序", "怎么弄", "怎么申请", "怎么操作", "办理流程", "先干什么",
        "怎么办", "怎么搞", "怎么做", "如何申请", "怎么补", "怎么取", "怎么提", "怎么开", "怎么注册",
    ),
    "conditions": (
        "条件", "能不能办", "可以办吗", "能办吗", "符合", "资格", "要求", "外地人", "外地户口", "谁可以", "哪些人",
        "能不能", "可不可以", "有没有限制", "限制", "能办",
    ),
    "online": (
        "网上", "手机上", "手机", "浙里办", "线上", "网办", "app", "网站", "小程序", "不用跑", "不跑", "掌上",
        "在家办", "电脑",
    ),
    "express": ("邮寄", "快递", "寄", "送到家", "ems", "包邮", "送上门", "邮到"),
    "booking": ("预约", "约个时间", "排号", "提前约", "挂号", "约一下", "取号"),
}

# Generic cues lose to any specific one: "网上怎么办" is online, "周六能办吗" is hours, "外地人能办吗" conditions.
WEAK_CUES: dict[str, float] = {
    "能办": 0.3, "能办吗": 0.3, "能不能办": 0.3, "可以办吗": 0.3, "能不能": 0.3, "可不可以": 0.3,
    "怎么办": 0.5, "怎么弄": 0.5, "怎么搞": 0.5, "怎么做": 0.5, "窗口": 0.5, "哪里": 0.8,
}
WEIGHTS: dict[str, float] = {"process": 0.8}


def classify(text: str) -> tuple[str, float]:
    """(aspect, strength); strength 0 means no cue, aspect "general"."""
    scores: dict[str, float] = {}
    for aspect, cues in CUES.items():
        best = max((len(c) * WEAK_CUES.get(c, 1.0) for c in cues if c in text), default=0)
        if best:
            scores[aspect] = best * WEIGHTS.get(aspect, 1.0)
    if not scores:
        return "general", 0.0
    aspect = max(scores, key=lambda a: (scores[a], -list(CUES).index(a)))
    assert aspect in ASPECTS
    return aspect, scores[aspect]


def cue_spans(text: str) -> list[str]:
    """All cue phrases present (used to strip aspect words before item retrieval)."""
    return [c for cues in CUES.values() for c in cues if c in text]
