"""The packaged sample KB (kb/data) and the labelled question set (tests/kb/questions.yaml) meet issues 3 and 11.

Every item and bundle being asked about is checked on the larger caller corpus (tests/kb/test_corpus.py).

These guard the content, not the engine: coverage of the required topics and bundles, sizes, speakable text,
and question labels that point at real targets.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from kb.api import ASPECTS
from kb.check import CENTRE_SPOKEN_MAX, SAMPLE_MARK, SPOKEN_MAX
from kb.loader import default_data_dir
from kb.schema import KnowledgeBase

QUESTIONS = Path(__file__).with_name("questions.yaml")

# Topic -> words that must appear in some item's name or aliases (issue 3's required list).
REQUIRED_TOPICS = {
    "犬证": ("养犬登记",),
    "公积金提取": ("公积金提取",),
    "公积金贷款": ("公积金个人住房贷款",),
    "公司登记": ("公司设立登记",),
    "公司注销": ("公司注销登记",),
    "个体户登记": ("个体工商户设立登记",),
    "个体户注销": ("个体工商户注销登记",),
    "食品经营许可": ("食品经营许可证核发",),
    "刻章": ("公章刻制",),
    "市民卡补办": ("市民卡补领",),
    "老年卡": ("老年卡",),
    "居住证": ("居住证申领",),
    "身份证换领": ("居民身份证换领",),
    "身份证补领": ("居民身份证补领",),
    "港澳签注": ("港澳通行证签注",),
    "户口迁移": ("户口迁入登记", "户口迁出登记"),
    "交通违法": ("交通违法处理",),
    "灵活就业参保": ("灵活就业人员参保登记",),
    "失业登记": ("失业登记",),
    "失业金": ("失业保险金申领",),
    "医保参保": ("基本医疗保险参保登记",),
    "异地就医备案": ("异地就医备案",),
    "低保": ("最低生活保障",),
    "低收入认定": ("低收入家庭认定",),
    "临时救助": ("临时救助",),
    "残疾人证": ("残疾人证核发",),
    "重残护理补贴": ("重度残疾人护理补贴",),
    "结婚登记": ("结婚登记",),
    "公租房": ("公共租赁住房申请", "保障性租赁住房申请"),
    "不动产转移": ("二手房转移登记",),
    "抵押登记": ("抵押权首次登记", "抵押权注销登记"),
    "不动产证补换": ("不动产权证书补证换证",),
    "代开发票": ("代开增值税普通发票",),
    "契税": ("契税申报",),
    "营业前消防检查": ("营业前消防安全检查",),
    "消防验收": ("建设工程消防验收",),
    "规划许可": ("建设工程规划许可证核发",),
    "卫生许可": ("公共场所卫生许可证核发",),
    "网吧许可": ("互联网上网服务营业场所经营许可",),
    "户外招牌": ("户外招牌设置",),
    "临时占道": ("临时占用城市道路许可",),
    "出生登记": ("出生登记",),
    "出生医学证明": ("出生医学证明",),
    "法律援助": ("法律援助申请",),
    "入学": ("义务教育入学报名",),
    "投资项目备案": ("企业投资项目备案",),
    "文印": ("文印服务",),
}

# Bundle name word -> words that must appear in the names of its items, in order.
REQUIRED_BUNDLES = {
    "开办餐饮店": ("设立登记", "食品经营许可", "消防安全检查", "招牌"),
    "开办网吧": ("设立登记", "消防安全检查", "上网服务", "招牌"),
    "开办美容美发店": ("设立登记", "卫生许可", "招牌"),
    "二手房买卖": ("网签", "税费", "转移登记"),
    "新生儿出生": ("出生登记", "医疗保险", "市民卡"),
    "企业开办": ("公司设立", "公章刻制", "发票"),
}

CENTRE_KEYS = ("address", "hours_weekday", "lunch_duty", "weekend", "self_service", "self_service_machines",
               "parking", "transport", "booking", "express", "hotline", "machine_answer")


def _load_questions() -> list[dict]:
    return yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))


def _sentences(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------- knowledge base


def test_every_source_file_is_marked_as_sample() -> None:
    root = default_data_dir()
    files = [root / "centre.yaml", root / "bundles.yaml", *sorted((root / "departments").glob("*.yaml"))]
    unmarked = [f.name for f in files if SAMPLE_MARK not in f.read_text(encoding="utf-8").split("\n", 1)[0]]
    assert unmarked == []


def test_size_and_flags(real_kb: KnowledgeBase) -> None:
    """The brief's scale and its 四全 figures (issue 11): 26 departments, >= 480 items, the named service lists."""
    items = real_kb.items()
    assert len(real_kb.departments) == 26
    assert len(items) >= 480
    weekend = [i for i in items if i.weekend]
    assert len(weekend) == 64  # "5+2": 28 全城通办 items + 36 personal items
    assert sum(i.citywide for i in weekend) == 28 and all(i.weekend for i in items if i.citywide)
    express = [i for i in items if {"express_one_way", "express_two_way"} & set(i.delivery)]
    assert len(express) / len(items) >= 0.887
    assert sum("express_two_way" in i.delivery for i in items) == 66
    assert sum(i.tolerance.allowed and bool(i.tolerance.later_materials) for i in items) == 88  # 容缺受理
    assert sum(i.online.full for i in items) == 55
    assert sum(i.door_to_door for i in items) == 8
    assert sum(i.sample_form for i in items) == 240
    assert sum(i.self_service for i in items) >= 20  # the 24-hour area's machines do 20+ things
    assert sum(i.bookable for i in items) >= 125  # the frequently used items at least
    kinds = Counter(b.kind for b in real_kb.bundles)
    assert kinds["商事"] >= 20 and kinds["不动产"] >= 16 and kinds["民生"] >= 8


@pytest.mark.parametrize("topic", sorted(REQUIRED_TOPICS))
def test_required_topic_is_covered(real_kb: KnowledgeBase, topic: str) -> None:
    names = [i.name for i in real_kb.items()]
    missing = [w for w in REQUIRED_TOPICS[topic] if not any(w in n for n in names)]
    assert missing == [], f"{topic}: no item named like {missing}"


@pytest.mark.parametrize("bundle_word", sorted(REQUIRED_BUNDLES))
def test_required_bundle_lists_its_steps_in_order(real_kb: KnowledgeBase, bundle_word: str) -> None:
    bundle = next((b for b in real_kb.bundles if bundle_word in b.name), None)
    assert bundle is not None, bundle_word
    items = {i.code: i.name for i in real_kb.items()}
    names = [items[c] for c in bundle.items]
    positions = [next((k for k, n in enumerate(names) if w in n), -1) for w in REQUIRED_BUNDLES[bundle_word]]
    assert -1 not in positions, (bundle.code, names)
    assert positions == sorted(positions), (bundle.code, names)


def test_centre_facts(real_kb: KnowledgeBase) -> None:
    centre = real_kb.centre
    assert [k for k in CENTRE_KEYS if not centre.get(k)] == []
    assert "86909000" in "".join(_sentences(centre["hotline"]))
    assert "杭州市" in centre["address"]
    assert any("五个工作日" in s for s in _sentences(centre["booking"]))
    assert any("EMS" in s for s in _sentences(centre["express"]))


def test_texts_are_short_enough_to_read_aloud(real_kb: KnowledgeBase) -> None:
    long = []
    for item in real_kb.items():
        texts = [*item.conditions, *item.process, *(m.name for m in item.materials), *(f.a for f in item.faq)]
        long += [(item.code, t) for t in texts if len(t) > SPOKEN_MAX]
    for key, value in real_kb.centre.items():
        long += [(key, s) for s in _sentences(value) if len(s) > CENTRE_SPOKEN_MAX]
    assert long == []


# --------------------------------------------------------------------------------------------- question set


def test_question_labels_point_at_real_targets(real_kb: KnowledgeBase) -> None:
    targets = {i.code for i in real_kb.items()} | {b.code for b in real_kb.bundles} | {"CENTRE"}
    wrong = []
    for q in _load_questions():
        item, kind = q["item"], q["kind"]
        ok = q["aspect"] in ASPECTS and kind in ("clean", "soundalike", "followup", "oos")
        if kind == "oos":
            ok = ok and item is None and q["aspect"] == "none"
        elif item == "AMBIGUOUS":
            alts = q.get("alternatives", [])
            ok = ok and len(alts) >= 2 and len(set(alts)) == len(alts) and set(alts) <= targets
        else:
            ok = ok and item in targets
        ok = ok and (("context" in q) == (kind == "followup")) and q.get("context", "CENTRE") in targets
        if not ok:
            wrong.append(q)
    assert wrong == []


def test_question_mix_matches_issue_3() -> None:
    questions = _load_questions()
    kinds = Counter(q["kind"] for q in questions)
    assert len(questions) >= 330
    assert kinds["clean"] >= 180 and kinds["soundalike"] >= 60 and kinds["followup"] >= 40 and kinds["oos"] >= 45
    assert 8 <= sum(q["item"] == "AMBIGUOUS" for q in questions) <= 15
    aspects = {q["aspect"] for q in questions if q["kind"] != "oos"}
    assert aspects == set(ASPECTS) - {"none"}
    texts = [(q["q"], q.get("context")) for q in questions]
    assert len(texts) == len(set(texts)), "duplicate question"
