"""Written Chinese with digits -> what a voice should say.

Other areas write natural text ("14:30前到A区12-15号窗口，电话0571-86909101，5个工作日"); this module is the one
place that makes it speakable ("下午两点半前到诶区十二到十五号窗口，电话零五七幺八六九零九幺零幺，五个工作日").
Rules run in a fixed order; each rewrites digits into Chinese, so later rules never see them again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cn2an

DIGITS = "零一二三四五六七八九"
PHONE_DIGITS = "零幺二三四五六七八九"  # 1 is read 幺 in numbers read digit by digit (not confused with 七)
LETTERS = {
    "A": "诶", "B": "必", "C": "西", "D": "迪", "E": "伊", "F": "艾弗", "G": "吉", "H": "艾尺", "I": "艾",
    "J": "杰", "K": "开", "L": "艾勒", "M": "艾马", "N": "艾娜", "O": "欧", "P": "披", "Q": "吉吾", "R": "艾儿",
    "S": "艾丝", "T": "提", "U": "伊吾", "V": "维", "W": "豆贝尔维", "X": "艾克斯", "Y": "吾艾", "Z": "贼德",
}  # fmt: skip
# Measure words after which a lone 2 is 两 (两个工作日, 两份, 两点), not 二.
LIANG_BEFORE = "个天份张次本位件项种周名页只条套间岁年月小分钟样人步"
# Words that introduce a number read digit by digit (phone numbers, codes, booking numbers).
CODE_CUES = r"电话|热线|拨打|致电|号码|手机|验证码|确认码|预约号|预约码|取件码|编号|编码|单号|工号|尾号|取号|排队号"
RANGE_DASH = r"\s*(?:-|~|～|—|–|至|到)\s*"
NUM = r"\d+(?:\.\d+)?"


def digits(text: str, one_as_yao: bool = True) -> str:
    """'0571' -> '零五七幺'; letters spelled, separators dropped."""
    table = PHONE_DIGITS if one_as_yao else DIGITS
    out = []
    for ch in text:
        if ch.isdigit():
            out.append(table[int(ch)])
        elif ch.upper() in LETTERS:
            out.append(LETTERS[ch.upper()])
    return "".join(out)


def cardinal(number: str) -> str:
    """'2000' -> '两千', '12.50' -> '十二点五', '105' -> '一百零五'. Leading-zero strings are read digit by digit."""
    number = number.replace(",", "")
    if len(number) > 1 and number.startswith("0") and not number.startswith("0."):
        return digits(number, one_as_yao=False)
    if "." in number:
        number = number.rstrip("0").rstrip(".") or "0"
    if len(number.split(".")[0]) > 12:
        return digits(number, one_as_yao=False)
    spoken = cn2an.an2cn(number)
    if spoken.startswith("二") and len(spoken) > 1 and spoken[1] in "千万亿百":
        spoken = "两" + spoken[1:]
    return spoken


PERIODS = ("凌晨", "早上", "上午", "中午", "下午", "傍晚", "晚上")


def spoken_time(hour: int, minute: int, with_period: bool = True) -> str:
    """14:30 -> 下午两点半, 9:05 -> 上午九点零五分, 12:00 -> 中午十二点, 0:30 -> 凌晨零点半."""
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        return f"{cardinal(str(hour))}比{cardinal(str(minute))}"
    if hour < 6 or hour == 24:
        period = "凌晨"
    elif hour < 12:
        period = "上午"
    elif hour < 13:
        period = "中午"
    elif hour < 18:
        period = "下午"
    else:
        period = "晚上"
    h12 = 0 if hour in (0, 24) else hour % 12 or 12
    h = "两" if h12 == 2 else cardinal(str(h12))
    if minute == 0:
        m = ""
    elif minute == 30:
        m = "半"
    elif minute < 10:
        m = f"零{DIGITS[minute]}分"
    else:
        m = f"{cardinal(str(minute))}分"
    return f"{period if with_period else ''}{h}点{m}"


def _sub(pattern: str, repl: Callable[[re.Match[str]], str]) -> Callable[[str], str]:
    compiled = re.compile(pattern)
    return lambda text: compiled.sub(repl, text)


def _has_period(m: re.Match[str]) -> bool:
    # "上午9:05" already says which half of the day; do not say it twice.
    return m.string[: m.start()].endswith(PERIODS)


def _time(m: re.Match[str]) -> str:
    return spoken_time(int(m.group("h")), int(m.group("m")), with_period=not _has_period(m))


def _time_range(m: re.Match[str]) -> str:
    said = not _has_period(m)  # "下午2:00-5:30": the written period covers both ends
    start = spoken_time(int(m.group(1)), int(m.group(2)), said)
    end = spoken_time(int(m.group(3)), int(m.group(4)), said)
    period = next((p for p in PERIODS if start.startswith(p)), None)
    if period and end.startswith(period):  # 13:30-17:00 -> 下午一点半到五点, not "...到下午五点"
        end = end[len(period) :]
    return f"{start}到{end}"


def _full_date(m: re.Match[str]) -> str:
    month, day = (cardinal(str(int(g))) for g in (m.group(2), m.group(3)))  # "01" is 一, not 零一
    return f"{digits(m.group(1), one_as_yao=False)}年{month}月{day}日"


def _number_with_unit(m: re.Match[str]) -> str:
    number, unit = m.group(1), m.group(2)
    ordinal = m.string[: m.start()].endswith("第")
    if number == "2" and unit[0] in LIANG_BEFORE and not ordinal:
        return "两" + unit
    return cardinal(number) + unit


def _range(m: re.Match[str]) -> str:
    # Before a measure word a lone 2 at either end is 两: 1-2天 -> 一到两天, 2-3个工作日 -> 两到三个工作日.
    liang = m.string[m.end() : m.end() + 1] in tuple(LIANG_BEFORE) and not m.string[: m.start()].endswith("第")
    low, high = (("两" if liang and n == "2" else cardinal(n)) for n in m.groups())
    return f"{low}到{high}"


def _percent_range(m: re.Match[str]) -> str:
    return f"百分之{cardinal(m.group(1))}到百分之{cardinal(m.group(2))}"


RULES: list[Callable[[str], str]] = [
    # Codes and numbers read digit by digit come first, before anything treats them as quantities.
    _sub(rf"(?P<cue>{CODE_CUES})(?P<sep>[是为：:\s]*)(?P<code>[0-9A-Za-z][0-9A-Za-z\-]{{2,}})",
         lambda m: m.group("cue") + m.group("sep").strip(" :：") + digits(m.group("code"))),
    _sub(r"(?<![\d.])(0\d{2,3})-(\d{7,8})(?!\d)", lambda m: digits(m.group(1)) + digits(m.group(2))),
    _sub(r"(?<![\d.])(400|800)-?(\d{3})-?(\d{4})(?!\d)", lambda m: digits("".join(m.groups()))),
    _sub(r"(?<![\dA-Za-z.])(\d{3,})(?=热线|专线|服务热线)", lambda m: digits(m.group(1))),
    _sub(r"(?<![A-Za-z0-9])([A-Z]{1,4})-?(\d{2,})(?![\d])", lambda m: digits(m.group(1) + m.group(2))),
    # Dates and times.
    _sub(r"(\d{4})[年\-/.](\d{1,2})[月\-/.](\d{1,2})[日号]?", _full_date),
    _sub(r"(?<![\d])(\d{4})年", lambda m: digits(m.group(1), one_as_yao=False) + "年"),
    _sub(rf"(?<!\d)(\d{{1,2}})[:：](\d{{2}}){RANGE_DASH}(\d{{1,2}})[:：](\d{{2}})(?!\d)", _time_range),
    _sub(r"(?<!\d)(?P<h>\d{1,2})[:：](?P<m>\d{2})(?!\d)", _time),
    # Money: the yuan sign is said as 元 after the amount (¥25.5 -> 二十五点五元), never twice.
    _sub(r"[¥￥]\s*(\d+(?:,\d{3})*(?:\.\d+)?)元?", lambda m: ("两" if m.group(1) == "2" else cardinal(m.group(1))) + "元"),
    # Percentages, ranges, arithmetic-looking shorthands.
    _sub(rf"({NUM})%?{RANGE_DASH}({NUM})%", _percent_range),
    _sub(rf"({NUM})%", lambda m: "百分之" + cardinal(m.group(1))),
    _sub(r"(\d+)\+(\d+)", lambda m: f"{cardinal(m.group(1))}加{cardinal(m.group(2))}"),
    _sub(rf"(?<![\d.])({NUM}){RANGE_DASH}({NUM})(?![\d.])", _range),
    # Digits written spaced out ("3 8 2 9 1 0", a code dictated back) are read one by one.
    _sub(r"(?<![\d.])\d(?: \d){3,}(?![\d.])", lambda m: digits(m.group(0))),
    # Long digit runs with no unit are identifiers (mobile numbers, the hotline number): digit by digit.
    _sub(r"(?<![\d.])(\d{7,})(?![\d.]|元|万|亿|人|个|份)", lambda m: digits(m.group(1))),
    # Quantities: a number and what follows it.
    _sub(r"(\d+(?:,\d{3})*(?:\.\d+)?)([\u4e00-\u9fff])", _number_with_unit),
    _sub(rf"({NUM})", lambda m: cardinal(m.group(1))),
    # What is left: per-unit slashes, stray Latin capitals (A区 -> 诶区).
    _sub(r"(?<=[\u4e00-\u9fff])/(?=[\u4e00-\u9fff])", lambda m: "每"),
    _sub(r"(?<![A-Za-z])([A-Z]{1,4})(?![A-Za-z])", lambda m: digits(m.group(1))),
]


def to_spoken(text: str) -> str:
    """Make written Chinese speakable: every digit, time, date, code and symbol becomes words."""
    for rule in RULES:
        text = rule(text)
    return text


SENTENCE_END = "。！？；!?;\n"
CLAUSE_END = "，,：:、"


def split_sentences(text: str, max_chars: int = 40) -> list[str]:
    """Split at sentence ends (and at commas when a sentence runs long), keeping the punctuation.

    The first clause is its own piece so playback starts early; very short pieces are merged so the voice keeps
    its prosody.
    """
    out: list[str] = []
    current = ""
    for ch in text.strip():
        current += ch
        # The first clause goes alone when it is long enough: the caller hears audio sooner.
        long_clause = len(current) >= (6 if not out else max_chars // 2)
        if ch in SENTENCE_END or (ch in CLAUSE_END and long_clause):
            if current.strip():
                out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    merged: list[str] = []
    for piece in out:
        if merged and len(merged[-1]) < 4:
            merged[-1] += piece
        else:
            merged.append(piece)
    # A clause longer than max_chars with no punctuation is split hard; engines choke on very long inputs.
    final: list[str] = []
    for piece in merged:
        while len(piece) > max_chars * 2:
            final.append(piece[:max_chars])
            piece = piece[max_chars:]
        final.append(piece)
    return [p for p in final if re.search(r"[\u4e00-\u9fffA-Za-z0-9]", p)]


_CLAUSE_END = re.compile(r"[，,、：:；;。！？!?]")


def split_head(text: str, min_chars: int = 4, max_clause: int = 14, head_words: int = 8,
               long_text: int = 20) -> list[str]:
    """Cut a long text after its first short clause, else after the first few words (jieba), so the first
    chunk synthesises fast: '市民卡补领换领在区行政服务中心…' -> ['市民卡补领换领', '在区行政服务中心…']."""
    if len(text) <= long_text:
        return [text]
    for m in _CLAUSE_END.finditer(text):
        if m.end() > max_clause:
            break
        if m.end() >= min_chars:
            return [text[: m.end()], text[m.end():]]
    import jieba

    size = 0
    for word in jieba.cut(text[: max_clause * 2]):
        size += len(word)
        if size >= head_words:
            break
    return [text[:size], text[size:]] if size < len(text) - min_chars else [text]
