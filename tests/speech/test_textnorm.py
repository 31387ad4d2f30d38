from __future__ import annotations

import re

import pytest

from speech.textnorm import cardinal, digits, split_sentences, spoken_time, to_spoken

TABLE = [
    # numbers and amounts
    ("收费300元", "收费三百元"),
    ("每只犬首次登记2000元", "每只犬首次登记两千元"),
    ("工本费12.50元", "工本费十二点五元"),
    ("1,000元", "一千元"),
    ("共102人", "共一百零二人"),
    ("10元/份", "十元每份"),
    # dates
    ("12月3日", "十二月三日"),
    ("2026年12月3日", "二零二六年十二月三日"),
    ("2026-01-05", "二零二六年一月五日"),
    # times and time ranges
    ("14:30", "下午两点半"),
    ("9:05", "上午九点零五分"),
    ("12:00", "中午十二点"),
    ("0:30", "凌晨零点半"),
    ("08:00-20:00", "上午八点到晚上八点"),
    ("下午2:00-5:30", "下午两点到五点半"),
    ("上午9:15前", "上午九点十五分前"),
    # durations and measure words
    ("5个工作日", "五个工作日"),
    ("2个工作日", "两个工作日"),
    ("2天", "两天"),
    ("第2个窗口", "第二个窗口"),
    ("20个", "二十个"),
    ("1.5小时", "一点五小时"),
    # phone numbers and codes, digit by digit with 幺
    ("电话0571-86909101", "电话零五七幺八六九零九幺零幺"),
    ("请拨打86909000", "请拨打八六九零九零零零"),
    ("手机13800138000", "手机幺三八零零幺三八零零零"),
    ("12345热线", "幺二三四五热线"),
    ("您的确认码是A3F7K2", "您的确认码是诶三艾弗七开二"),
    ("预约号20261203", "预约号二零二六幺二零三"),
    ("事项编码GA-001", "事项编码吉诶零零幺"),
    ("确认码是 3 8 2 9 1 0", "确认码是 三八二九幺零"),
    # percentages and ranges
    ("50%", "百分之五十"),
    ("12.5%", "百分之十二点五"),
    ("10%-20%", "百分之十到百分之二十"),
    ("3~5个工作日", "三到五个工作日"),
    ("A区12-15号窗口", "诶区十二到十五号窗口"),
    ("5+2", "五加二"),
    # gaps found in the TTS review: hotline number, office hours, money sign, 两 in ranges and before 样/人
    ("0571-86909000", "零五七幺八六九零九零零零"),
    ("9:00-12:00", "上午九点到中午十二点"),
    ("13:30-17:00", "下午一点半到五点"),
    ("18:00-20:30", "晚上六点到八点半"),
    ("上午9:00-12:00，下午13:30-17:00", "上午九点到十二点，下午一点半到五点"),
    ("¥25.5元", "二十五点五元"),
    ("¥25.5", "二十五点五元"),
    ("收费￥1,000", "收费一千元"),
    ("￥2", "两元"),
    ("3-5个工作日", "三到五个工作日"),
    ("2-3个工作日", "两到三个工作日"),
    ("1-2天", "一到两天"),
    ("第2-3步", "第二到三步"),
    ("第2窗口", "第二窗口"),
    ("第1步", "第一步"),
    ("2样材料", "两样材料"),
    ("2人", "两人"),
    ("12月3日至12月5日", "十二月三日至十二月五日"),
    # text without digits is untouched
    ("请问您要办理什么业务？", "请问您要办理什么业务？"),
]


@pytest.mark.parametrize(("written", "spoken"), TABLE)
def test_to_spoken(written, spoken):
    assert to_spoken(written) == spoken


def test_a_whole_answer_has_no_digits_or_latin_left():
    answer = "请于14:30前到A区12-15号窗口办理，咨询电话0571-86909101，5个工作日办结，收费300元。"
    spoken = to_spoken(answer)
    assert not re.search(r"[0-9A-Za-z:%\-]", spoken), spoken
    assert spoken.startswith("请于下午两点半前到诶区十二到十五号窗口")


def test_helpers():
    assert digits("0571") == "零五七幺"
    assert digits("0571", one_as_yao=False) == "零五七一"
    assert cardinal("007") == "零零七"
    assert cardinal("2000") == "两千"
    assert spoken_time(14, 30, with_period=False) == "两点半"
    assert spoken_time(20, 10) == "晚上八点十分"


def test_split_sentences_keeps_punctuation_and_merges_tiny_pieces():
    parts = split_sentences("好。请问您要办理什么业务？我可以帮您查询材料、地点和时间！")
    assert parts == ["好。请问您要办理什么业务？", "我可以帮您查询材料、地点和时间！"]


def test_split_sentences_breaks_long_sentences_at_commas():
    text = "，".join(["这是一段很长的说明文字没有句号"] * 6) + "。"
    parts = split_sentences(text, max_chars=40)
    assert len(parts) > 1 and "".join(parts) == text
    assert all(len(p) <= 80 for p in parts)


def test_split_sentences_drops_punctuation_only_pieces():
    assert split_sentences("。。！") == []
    assert split_sentences("") == []


def test_the_first_clause_is_its_own_piece_so_audio_starts_sooner():
    parts = split_sentences("您好，这里是政务服务热线，请问您要办理什么业务？")
    assert parts == ["您好，这里是政务服务热线，", "请问您要办理什么业务？"]
