"""How sure the engine is that the top-ranked target is what the caller means: a few features, one logistic.

The coefficients below were fitted by ``benchmarks/kb_fit.py`` (L2-regularised logistic regression, scipy, signs
fixed where the meaning is one-directional) on the tuning split of the caller corpus (tests/kb/corpus, written by
people who never saw the engine), the tuning four fifths of tests/kb/questions.yaml and the recorded ASR
transcripts of those questions (tests/kb/asr_transcripts.yaml); label 1 = the top-ranked target is the labelled
answer. Re-run that script after changing features or the question set, and paste its output here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache

from kb.index import Index
from kb.retrieval import Candidate, coverage
from kb.text import longest_shared_run

CONTENT_FULL = 6.0  # idf mass of about two distinctive characters: enough to name an item

# Non-service intents: what callers of a government service line also ask, that no service item answers. Grouped
# by kind of request; a hit lowers the confidence, it does not veto an item. Family words (老婆, 孩子) are not cues:
# callers mention them in real service questions ("我老婆刚生完孩子，给宝宝上户口").
OFF_TOPIC = (
    # weather, time, chit-chat
    "天气", "下雨", "下雪", "气温", "星期几", "几点了", "几号了", "笑话", "唱歌", "唱首", "讲个故事", "你叫什么",
    "机器人", "真人", "吃饭了", "吃了吗", "聊天",
    # shopping, prices of goods, investment
    "买什么", "能卖", "卖多少", "值多少钱", "价格多少", "划算", "股票", "基金", "黄金", "比特币", "彩票", "理财",
    "房价", "假货", "退货", "网购", "外卖", "点餐", "好吃", "餐厅", "推荐",
    # parcels, tickets, taxis
    "快递到哪", "快递怎么", "快递还没", "火车票", "高铁票", "飞机票", "机票", "电影票", "门票", "打车", "叫个车",
    "叫个出租", "绕路",
    # utilities, repairs, private disputes, emergencies
    "话费", "充值", "宽带", "停电", "停水", "水管", "邻居", "隔壁", "噪音", "装修吵", "油烟", "吵死",
    "报警", "打架", "着火了", "救护车",
    # family, health, private life
    "不回家", "不听话", "吵架", "离家出走", "挂号", "看牙", "哪家医院", "保姆", "驾校", "学英语", "怎么学",
    "找工作", "换工作", "请假条", "比赛", "微信", "支付宝", "信用卡", "猫", "不吃东西",
    # jobs at the centre, shows, bank cards, traffic rules of the day
    "招不招", "应聘", "音乐会", "银行卡", "限不限行", "限行",
    # shopping advice, taxis, repairs, lost property, towing, lottery draws
    "物业不管", "哪个好", "哪家好", "学开车", "哪里买", "靠谱", "叫一辆", "叫辆车", "报修", "找谁修", "断网", "找回来", "失物", "拖走", "被拖", "双色球", "开奖",
)

# Another place's or organisation's counter ("宁波那边的不动产中心要预约吗", "工行网点周六开门吗", "自来水公司改户名"):
# asked of this hotline, but not this centre's to do. A feature of the learned abstain option (kb.rerank), not a
# rule: banks and other cities are also in stories about what the centre does ("银行说抵押登记办好才放款"), and
# some are in its items' names (民办学校设立): the fit weighs them.
ELSEWHERE = (
    # other cities and provinces (the centre serves one district of Hangzhou)
    "北京", "上海", "天津", "重庆", "广州", "深圳", "南京", "苏州", "无锡", "合肥", "宁波", "温州", "绍兴", "嘉兴",
    "湖州", "金华", "台州", "丽水", "衢州", "舟山", "义乌", "外省的", "外地的", "省外", "老家那边", "老家的",
    "别的城市", "别的市",
    # banks, hospitals, schools, utilities, companies and shops
    "银行", "工行", "建行", "农行", "中行", "交行", "招行", "邮储", "网点", "医院", "诊所", "学校", "营业厅",
    "自来水公司", "水务公司", "燃气公司", "煤气公司", "供电公司", "电力公司", "保险公司", "物业", "中介", "4s店",
    "殡仪馆", "网吧", "律师",
)


def clause_fit(index: Index, part_chars: list[list[str]], cand: Candidate) -> float:
    """How well the target explains the one clause that says most about it (``part_chars``: each clause's content
    characters): a story-like question names the item in one clause and tells the rest around it, so the whole
    question's coverage undersells it. A one-clause question (no ``part_chars``): its coverage x content mass."""
    if not part_chars:
        return cand.coverage * min(cand.content / CONTENT_FULL, 1.0)
    best = 0.0
    for chars in part_chars:
        cov, mass = coverage(index, chars, cand.code)
        best = max(best, cov * min(mass / CONTENT_FULL, 1.0))
    return best


@dataclass(frozen=True)
class Features:
    phrase: float  # hit quality of the best name/alias in the question: 1 exact, 0.9 by sound, ~0.5 one syllable off
    partial: float  # longest run of the question inside one of the target's names/aliases (by sound), share of it
    coverage: float  # idf-weighted share of the question's content characters the target contains
    mass: float  # how much the question says at all, 0..1 (CONTENT_FULL = 1)
    unexplained: float  # idf mass of content characters the target lacks, in CONTENT_FULL units, at most 2
    margin: float  # (top - runner-up) / top score
    service: float  # 1 when the question asks something about a service (an aspect cue)
    off_topic: float  # 1 when it carries a non-service intent (OFF_TOPIC)
    by_sound: float  # share of the matched phrase's characters not in the question verbatim (heard by sound)
    clause: float  # best clause's coverage x its content mass (0..1): the clause that names the target, explained


FEATURE_NAMES = tuple(f.name for f in fields(Features))  # (dataclasses.astuple deep-copies: slow on every answer)

# Fitted by benchmarks/kb_fit.py on the tuning split (see module docstring); order = Features fields, then bias.
WEIGHTS = (0.573, 2.055, 0.754, 0.244, 0.0, 4.352, 1.201, -3.431, -0.586, 1.648)
BIAS = -4.388


MIN_RUN = 3  # two shared syllables (申请, 证明) are common to too many phrases to say anything


def longest_run_share(question_key: str, phrase_keys: list[str]) -> float:
    """Longest substring (at least MIN_RUN syllables) of some phrase (sound keys) found in the question, as a share
    of that phrase's length: "二手车" is 0.6 of "二手车过户"."""
    best = 0.0
    for pk in phrase_keys:
        if len(pk) >= MIN_RUN and (run := longest_shared_run(pk, question_key)) >= MIN_RUN:
            best = max(best, run / len(pk))
    return best


@lru_cache(maxsize=4096)  # (asked ~15 times per answer, once per candidate's features)
def off_topic(text: str, cues: tuple[str, ...] = OFF_TOPIC) -> bool:
    """Does the text carry a non-service intent? ``cues`` is OFF_TOPIC without the words the KB itself uses (the
    QA engine drops them: with 驾校备案 or 大型活动 in the KB, 驾校 and 演唱会 are service words)."""
    return any(cue in text for cue in cues)


def service_free_cues(kb_words: list[str]) -> tuple[str, ...]:
    """OFF_TOPIC without any cue that occurs in the KB's own names and aliases."""
    return tuple(c for c in OFF_TOPIC if not any(c in w for w in kb_words))


def features(top: Candidate, second: Candidate | None, question_key: str, phrase_keys: list[str],
             aspect_strength: float, text: str, off_topic_cues: tuple[str, ...] = OFF_TOPIC,
             clause: float = 0.0) -> Features:
    phrase = top.phrase_len / len(top.phrase) if len(top.phrase) >= 2 else 0.0
    margin = 1.0 if second is None or top.score <= 0 else max(0.0, (top.score - second.score) / top.score)
    return Features(
        phrase=phrase,
        partial=max(phrase, longest_run_share(question_key, phrase_keys)),
        coverage=top.coverage,
        mass=min(top.content / CONTENT_FULL, 1.0),
        unexplained=min((1.0 - top.coverage) * top.content / CONTENT_FULL, 2.0),
        margin=margin,
        service=1.0 if aspect_strength > 0 else 0.0,
        off_topic=1.0 if off_topic(text, off_topic_cues) else 0.0,
        by_sound=sum(ch not in text for ch in top.phrase) / len(top.phrase) if top.phrase else 0.0,
        clause=clause,
    )


def probability(f: Features, weights: tuple[float, ...] | None = None, bias: float | None = None) -> float:
    """P(the top target is right); module WEIGHTS/BIAS unless given (kb_fit.py tries candidates)."""
    weights = WEIGHTS if weights is None else weights
    bias = BIAS if bias is None else bias
    z = bias + sum(w * getattr(f, name) for w, name in zip(weights, FEATURE_NAMES, strict=True))
    return round(1.0 / (1.0 + math.exp(-z)), 4)
