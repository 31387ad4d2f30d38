"""Centre-wide questions answered from centre.yaml facts and, for the centre's "四全" services, from the item flags.

Each topic lists its cue phrases, the centre.yaml keys read aloud, and the aspect reported with item_code CENTRE.
Service topics (5+2 weekend, 全城通办, express, 容缺, 全程网办, door-to-door, sample forms, self-service, 一件事)
also name their members: the items (or bundles) whose flags say they belong. Their answer says the rule, then how
many there are and the three or four most asked of them (centre.yaml ``most_asked``), then offers to narrow down:
the counts always follow the data, never a number written in a sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kb.schema import Bundle, Item, KnowledgeBase


@dataclass(frozen=True)
class Topic:
    name: str
    cues: tuple[str, ...]
    keys: tuple[str, ...]
    aspect: str
    weak_cues: tuple[str, ...] = ()  # count only when the caller also means the centre ("你们几点")
    members: Callable[[Item], bool] | None = None  # the items this service applies to, from their flags
    listing: str = ""  # how the count is said: "双休日能办的有{n}项"
    service: bool = False  # one of the centre's own services ("四全"): an item named like it is the centre's too

    def __post_init__(self) -> None:
        if self.members is not None:
            object.__setattr__(self, "service", True)


def _express(item: Item) -> bool:
    return any(d.startswith("express") for d in item.delivery)


TOPICS = (
    Topic("parking", ("停车", "车位", "开车", "停哪", "停在哪", "停在"), ("parking",), "location"),
    Topic("transport", ("地铁", "公交", "坐车", "几路车", "怎么过去", "怎么去"), ("transport", "address"), "location"),
    Topic("lunch", ("中午", "午休", "午饭", "十二点到一点"), ("lunch_duty",), "hours"),
    Topic("citywide", ("全城通办", "通办", "跨区", "异地办", "别的区", "其他区", "外区", "就近办"), ("citywide",),
          "general", members=lambda i: i.citywide, listing="全城通办的有{n}项"),
    Topic("weekend", ("周末", "周六", "星期六", "礼拜六", "周日", "星期天", "星期日", "礼拜天", "双休", "5+2", "五加二",
                      "休息日", "不上班的时候"),
          ("weekend",), "weekend", members=lambda i: i.weekend, listing="双休日能办的有{n}项"),
    Topic("holidays", ("节假日", "放假", "国庆", "春节", "过年", "五一", "假期"), ("holidays",), "hours"),
    Topic("self_service", ("自助", "24小时", "二十四小时", "机器上办", "机器上", "在机器"), ("self_service", "self_service_machines"),
          "general", ("晚上",), service=True),
    Topic("early_late", ("延时", "提前开门", "早上", "一早", "早点", "晚上", "下班以后", "下班后", "下了班", "傍晚",
                         "早晚"), ("early_late",), "hours", service=True),
    Topic("hours", ("上班", "下班", "开门", "关门", "办公时间", "营业时间", "工作时间", "什么时候开", "开始办公",
                    "几点开始", "开着", "点以后", "点之后", "关不关"),
          ("hours_weekday",), "hours", ("几点",)),
    Topic("address", ("地址", "在什么地方", "怎么走", "位置", "哪条路", "什么路", "导航", "大楼", "搬家了"), ("address", "landmark"), "location",
          ("在哪", "哪里", "哪儿")),
    Topic("floors", ("几楼", "楼层", "哪一层", "几层", "哪层", "每层", "各层", "一楼", "二楼", "三楼", "部门分布"), ("floors",), "location"),
    Topic("booking", ("预约", "约个", "爽约", "取消预约", "能约", "约几个", "约今天", "约明天", "约号"), ("booking",), "booking"),
    # "快递" alone is usually the caller's own parcel, not the centre's delivery of results.
    Topic("express", ("邮寄", "寄到家", "寄回家", "送到家", "快递到家", "快递回家", "寄到", "寄回", "ems", "寄"), ("express",), "express", ("快递",),
          members=_express, listing="办好能寄到家的有{n}项"),
    Topic("tolerance", ("容缺", "材料不全", "材料不齐", "没带齐", "没带全", "缺材料", "缺一样", "少一样", "先受理",
                        "后补", "差一样", "缺了", "少了"),
          ("tolerance",), "tolerance", members=lambda i: i.tolerance.allowed, listing="可以容缺受理的有{n}项"),
    Topic("online", ("全程网办", "网上办", "网办", "浙里办", "手机上办", "网上", "不用跑", "跑一次", "在家办", "线上",
                     "手机上", "网上办完", "从头办到尾"),
          ("online",), "online", members=lambda i: i.online.full, listing="全程网办的有{n}项"),
    Topic("door_to_door", ("上门", "到家里来", "来家里", "出不了门", "行动不便", "卧床", "瘫痪", "走不动"),
          ("door_to_door",), "door_to_door", members=lambda i: i.door_to_door, listing="能上门办的有{n}项"),
    Topic("sample_form", ("样表", "表格", "模板", "范本", "下载", "填表", "怎么填", "拿表", "领表", "例子"), ("sample_form",), "sample_form",
          members=lambda i: i.sample_form, listing="有样表的有{n}项"),
    # (the "together" words, 一起办/一次办, name one bundle's life event, not the list of them: kb.distinguish)
    Topic("bundles", ("一件事", "套餐", "联办", "集成办"), ("bundles",), "general", service=True),
    Topic("queue", ("取号", "排队", "叫号", "等多久", "过号", "人多不多", "排很久", "排多久"), ("queue",), "process"),
    Topic("help_desk", ("老人", "老年人", "残疾", "陪同", "代办", "帮办", "导服", "帮忙办", "不会弄", "不会办",
                        "帮我办", "引导", "工作人员可以问"), ("help_desk",), "general"),
    Topic("complaints", ("投诉", "意见", "建议", "态度", "举报", "不满意", "找谁"), ("complaints",), "general"),
    Topic("hotline", ("人工", "热线", "客服", "打电话", "电话"), ("hotline", "machine_answer"), "hours"),
)

# Words that say the caller means the centre itself, not an item.
CENTRE_WORDS = ("服务中心", "市民中心", "你们", "大厅", "中心", "办事大厅")
# A list question: "周末能办哪些事", "自助机能办啥", "哪些可以容缺".
LIST_CUES = ("哪些", "哪几", "什么事", "什么业务", "都能办", "能办什么", "可以办什么", "办什么", "有什么", "多少项",
             "几项", "清单", "都有", "什么能")
# What any question about the centre may say besides its topic: "是真的吗", "什么意思", "到底有没有人".
META = ("意思", "介绍", "真的", "到底", "有人", "服务", "办事", "事项", "业务", "窗口", "过去", "过来", "白跑",
        "一趟", "平时", "没空", "有空", "那个点", "时候", "人接", "进度", "查")
MAX_SENTENCES = 3
# What a fact says when it answers an aspect asked of a centre topic: "上门办要收钱吗" is answered by the fact on
# fees, "礼拜六几点开门" by the one with the hours. Aspects whose facts have no such words (process, general) are
# answered in the file's order.
ASPECT_MARKS = {
    "fee": ("费", "钱"),
    "hours": ("点", "小时", "开放", "上午", "下午"),
    "location": ("楼", "路", "门口", "对面", "旁边", "站"),
    "booking": ("预约",),
    "materials": ("身份证", "材料"),
    "time_limit": ("工作日", "天"),
}
EXAMPLES = 4  # examples named in a list answer: a listener keeps about four
NARROW = "您想办哪一项，直接说名称就行。"
NAME_MAX = 6  # an alias longer than this is no shorter to say than the official name


def says_centre(text: str) -> bool:
    return any(w in text for w in CENTRE_WORDS)


def is_list(text: str) -> bool:
    return any(c in text for c in LIST_CUES)


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


def topic_named(name: str) -> Topic | None:
    """The topic of a name, else the first whose centre.yaml keys hold it (the corpus says "lunch_duty" for
    "lunch"; "address" is the address topic's name and a key of transport's)."""
    return next((t for t in TOPICS if name == t.name), None) or next((t for t in TOPICS if name in t.keys), None)


def topic_cues(topic: Topic) -> tuple[str, ...]:
    return topic.cues + topic.weak_cues


def centre_text(kb: KnowledgeBase) -> str:
    """Every centre fact and cue in one string: what a centre question may mention besides its cue."""
    parts = [v if isinstance(v, str) else "".join(v) for k, v in kb.centre.items() if k != "most_asked"]
    parts += [c for t in TOPICS for c in t.cues + t.weak_cues] + list(CENTRE_WORDS) + list(LIST_CUES) + list(META)
    return "".join(parts)


def cue_text() -> str:
    """Only the words of centre questions themselves (cues, 你们, 哪些, 什么意思), none of the facts: the facts
    name services (社保, 公积金...) that are items' words too."""
    return "".join([c for t in TOPICS for c in t.cues + t.weak_cues] + list(CENTRE_WORDS) + list(LIST_CUES)
                   + list(META))


def spoken_name(target: Item | Bundle) -> str:
    """What callers call it: the shortest alias when it is short, else the official name."""
    aliases = sorted(target.aliases, key=len)
    return aliases[0] if aliases and len(aliases[0]) <= NAME_MAX else target.name


def most_asked(kb: KnowledgeBase, items: list[Item]) -> list[Item]:
    """``items`` in the order callers ask for them: centre.yaml ``most_asked`` first, then the items callers have
    the most words for (aliases), then file order."""
    order = kb.centre.get("most_asked", [])
    rank = {code: i for i, code in enumerate([order] if isinstance(order, str) else order)}
    return sorted(items, key=lambda i: (rank.get(i.code, len(rank)), -len(i.aliases)))


def _sentences(kb: KnowledgeBase, keys: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for key in keys:
        value = kb.centre.get(key)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        out += [v if v.endswith(("。", "？", "！")) else v + "。" for v in values]
    return out


def _examples(names: list[str]) -> str:
    return f"比如{'、'.join(names[:EXAMPLES])}" + ("等" if len(names) > EXAMPLES else "")


def _members_sentence(kb: KnowledgeBase, topic: Topic) -> str:
    assert topic.members is not None
    members = most_asked(kb, [i for i in kb.items() if topic.members(i)])
    if not members:
        return ""
    text = topic.listing.format(n=len(members))
    if topic.name == "weekend":
        citywide = sum(i.citywide for i in members)
        if citywide:
            text += f"，其中{citywide}项全城通办"
    if topic.name == "express":
        two_way = sum("express_two_way" in i.delivery for i in members)
        if two_way:
            text += f"，其中{two_way}项材料也能寄过来"
    return f"{text}，{_examples([spoken_name(i) for i in members])}。{NARROW}"


def _bundles_sentence(kb: KnowledgeBase) -> str:
    if not kb.bundles:
        return ""
    kinds: dict[str, list[Bundle]] = {}
    for b in kb.bundles:
        kinds.setdefault(b.kind or "其他", []).append(b)
    parts = [f"{kind}类{len(bs)}个，比如{spoken_name(bs[0])}" for kind, bs in kinds.items()]
    return f"一共有{len(kb.bundles)}个一件事：{'；'.join(parts)}。您想办哪一件，直接说就行。"


def _self_service_sentence(kb: KnowledgeBase, is_list_question: bool) -> list[str]:
    machines = _sentences(kb, ("self_service_machines",))
    tasks = kb.centre.get("self_service_tasks", [])
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    out = machines[:1]  # "一共十五台自助机……": the kinds follow only when asked which machines
    if tasks:
        out.append(f"自助机能办{len(tasks)}件事，{_examples(tasks)}。")
    if not is_list_question:
        out += machines[1:2]
    return out


def _facts(kb: KnowledgeBase, topic: Topic) -> list[str]:
    """The topic's fact sentences, as its answer says them (the self-service machines are told apart)."""
    return _sentences(kb, topic.keys if topic.name != "self_service" else ("self_service",))


def _asked_first(sentences: list[str], question: str, aspect: str | None, topic: Topic) -> list[str]:
    """The topic's facts with those that answer the question first: a caller who asks if a home visit costs
    anything hears "不收任何费用" first, one who came late for a booking hears the lateness rule, not the
    first three facts of the topic. A fact answers by sharing the question's words (two characters in a row: single
    ones match by chance, 工 of 人工 in 工程) or, for the aspect asked, saying what that aspect is about
    (ASPECT_MARKS; not the topic's own: every booking fact is about booking). A word counts less the more facts
    share it (取消 tells one booking fact, 预约 tells none). Ties keep the file's order."""
    pairs = {question[i:i + 2] for i in range(len(question) - 1)}
    shared = {p: sum(p in s for s in sentences) for p in pairs}
    marks = ASPECT_MARKS.get(aspect or "", ()) if aspect != topic.aspect else ()

    def relevance(sentence: str) -> float:
        return sum(1 / shared[p] for p in pairs if p in sentence) + 2 * sum(m in sentence for m in marks)

    return sorted(sentences, key=relevance, reverse=True) if question else sentences


def answers_aspect(kb: KnowledgeBase, topic: Topic, question: str, aspect: str) -> bool:
    """Does the topic's answer to ``question`` lead with a fact about ``aspect`` ("停车要钱吗": parking's fact says
    前两小时免费, so the centre answered a fee question)?"""
    marks = ASPECT_MARKS.get(aspect, ())
    sentences = _asked_first(_facts(kb, topic), question, aspect, topic)
    return bool(marks and sentences) and any(m in sentences[0] for m in marks)


def centre_answer(kb: KnowledgeBase, topic: Topic, question: str = "", aspect: str | None = None) -> str:
    """The spoken answer for ``topic``; ``question`` (normalised) tells a list question from a yes/no one, and with
    ``aspect`` (what it asks) orders the topic's facts."""
    sentences = _asked_first(_facts(kb, topic), question, aspect, topic)
    if topic.name == "self_service":
        return "".join(sentences + _self_service_sentence(kb, is_list(question)))
    if topic.members is not None:
        listing = _members_sentence(kb, topic)
        return "".join(sentences[:2]) + listing if sentences or listing else ""
    if topic.name == "bundles":
        return "".join(sentences[:1]) + _bundles_sentence(kb)
    if not sentences:
        return ""
    extra = len(sentences) - MAX_SENTENCES
    text = "".join(sentences[:MAX_SENTENCES])
    if extra > 0:
        text += "其他情况可以按0转人工咨询。"
    return text
