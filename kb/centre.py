"""Centre-wide questions (address, hours, parking, weekend, self-service...) answered from centre.yaml facts.

Each topic lists its cue phrases, the centre.yaml keys read aloud, and the aspect reported with item_code CENTRE.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.schema import KnowledgeBase


@dataclass(frozen=True)
class Topic:
    name: str
    cues: tuple[str, ...]
    keys: tuple[str, ...]
    aspect: str
    weak_cues: tuple[str, ...] = ()  # count only when the caller also means the centre ("你们几点")


TOPICS = (
    Topic("parking", ("停车", "车位", "开车", "停哪"), ("parking",), "location"),
    Topic("transport", ("地铁", "公交", "坐车", "几路车", "怎么过去", "怎么去"), ("transport", "address"), "location"),
    Topic("lunch", ("中午", "午休", "午饭"), ("lunch_duty",), "hours"),
    Topic("weekend", ("周末", "周六", "星期六", "礼拜六", "周日", "星期天", "礼拜天", "双休", "5+2"), ("weekend",), "hours"),
    Topic("holidays", ("节假日", "放假", "国庆", "春节", "过年", "五一", "假期"), ("holidays",), "hours"),
    Topic("self_service", ("自助", "24小时", "二十四小时"), ("self_service", "self_service_machines"), "general",
          ("晚上",)),
    Topic("hours", ("上班", "下班", "开门", "关门", "办公时间", "营业时间", "工作时间", "什么时候开"),
          ("hours_weekday",), "hours", ("几点",)),
    Topic("address", ("地址", "在什么地方", "怎么走", "位置"), ("address", "landmark"), "location",
          ("在哪", "哪里", "哪儿")),
    Topic("floors", ("几楼", "楼层", "哪一层", "几层"), ("floors",), "location"),
    Topic("booking", ("预约", "约个", "爽约", "取消预约"), ("booking",), "booking"),
    # "快递" alone is usually the caller's own parcel, not the centre's delivery of results.
    Topic("express", ("邮寄", "寄到家", "ems", "寄"), ("express",), "express", ("快递",)),
    Topic("queue", ("取号", "排队", "叫号", "等多久"), ("queue",), "process"),
    Topic("help_desk", ("老人", "老年人", "残疾", "陪同", "代办", "帮办", "导服", "行动不便"), ("help_desk",), "general"),
    Topic("complaints", ("投诉", "意见", "建议", "态度", "举报"), ("complaints",), "general"),
    Topic("hotline", ("人工", "热线", "客服", "打电话", "电话"), ("hotline", "machine_answer"), "hours"),
)

# Words that say the caller means the centre itself, not an item.
CENTRE_WORDS = ("服务中心", "市民中心", "你们", "大厅", "中心", "办事大厅")
MAX_SENTENCES = 3


def says_centre(text: str) -> bool:
    return any(w in text for w in CENTRE_WORDS)


def match_topic(text: str) -> tuple[Topic | None, float]:
    """The centre topic the question is about, with a strength (longest cue length; +2 when the centre is named)."""
    best: tuple[Topic | None, float] = (None, 0.0)
    centre = says_centre(text)
    for topic in TOPICS:
        # A weak cue counts half: "大厅在哪里取号" is about the queue (取号), not the address (在哪里).
        length = max((float(len(c)) for c in topic.cues if c in text), default=0.0)
        if centre:
            length = max([length] + [len(c) / 2 for c in topic.weak_cues if c in text])
        if length > best[1]:
            best = (topic, length)
    if best[0] is not None and centre:
        best = (best[0], best[1] + 2)
    return best


def topic_cues(topic: Topic) -> tuple[str, ...]:
    return topic.cues + topic.weak_cues


def centre_text(kb: KnowledgeBase) -> str:
    """Every centre fact and cue in one string: what a centre question may mention besides its cue."""
    parts = [v if isinstance(v, str) else "".join(v) for v in kb.centre.values()]
    parts += [c for t in TOPICS for c in t.cues + t.weak_cues] + list(CENTRE_WORDS)
    return "".join(parts)


def centre_answer(kb: KnowledgeBase, topic: Topic) -> str:
    sentences: list[str] = []
    for key in topic.keys:
        value = kb.centre.get(key)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        sentences += [v if v.endswith(("。", "？", "！")) else v + "。" for v in values]
    if not sentences:
        return ""
    extra = len(sentences) - MAX_SENTENCES
    text = "".join(sentences[:MAX_SENTENCES])
    if extra > 0:
        text += "其他情况可以按0转人工咨询。"
    return text
