"""Cell syntax and the column tables: how each cell of a 办事指南 sheet reads into the source-file shape and is
written back, and which columns the 事项 / 部门 / 一件事 sheets have (kb/data/README.md describes the syntax).

Lists one entry per line; yes/no as 是 / 否 (empty = 否); days as a whole number of working days; a material as
``居民身份证（原件，1份）``, ``…（复印件，2份，非必需）``, ``…（原件，1份，备注：外地户籍提供）`` or
``…（原件，1份，非必需：住在多层的提供）``; an FAQ as a line ``问：…`` followed by a line ``答：…``; delivery as
窗口领取 / 快递送达 / 双向快递, one per line. Only this syntax is checked here; the KB rules are the loader's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kb.schema import FORMS, Material

ITEMS, DEPARTMENTS, BUNDLES = "事项", "部门", "一件事"
YES, NO = "是", "否"
DELIVERY_WORDS = {"window": "窗口领取", "express_one_way": "快递送达", "express_two_way": "双向快递"}
_MATERIAL = re.compile(
    r"^(?P<name>.+)（(?P<form>[^，（）]*)，(?P<copies>[^，（）]*)份(?:，(?P<flag>非必需|备注)(?:：(?P<note>.*))?)?）$"
)
MATERIAL_EXAMPLE = "居民身份证（原件，1份）"


class CellError(ValueError):
    """A cell that does not follow the spreadsheet syntax; ``line`` is its line within the cell (1-based)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


def format_material(m: Material) -> str:
    """The cell line for one material; CellError for the rare text the syntax cannot carry back unchanged."""
    extra = ""
    if not m.required:
        extra = "，非必需" + (f"：{m.note}" if m.note else "")
    elif m.note:
        extra = f"，备注：{m.note}"
    text = f"{m.name}（{m.form}，{m.copies}份{extra}）"
    try:
        lossless = Material(**parse_material(text)) == m
    except CellError:
        lossless = False
    if not lossless or "\n" in text:
        raise CellError(f"material {m.name!r} cannot be written as one spreadsheet line: change its name or note")
    return text


def parse_material(text: str) -> dict[str, Any]:
    """One material line in source-file shape; form and copies are left for the loader to check."""
    match = _MATERIAL.match(text)
    if match is None:
        raise CellError(f"{text!r} should look like {MATERIAL_EXAMPLE} (form one of {', '.join(FORMS)})")
    if match["flag"] == "备注" and not match["note"]:
        raise CellError(f"{text!r}: write the remark after 备注：")
    copies = match["copies"].strip()
    return {"name": match["name"].strip(), "form": match["form"].strip(),
            "copies": int(copies) if copies.isdigit() else copies,
            "required": match["flag"] != "非必需", "note": (match["note"] or "").strip()}


def format_faq(pairs: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"问：{q}\n答：{a}" for q, a in pairs)


def parse_faq(lines: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for n, line in enumerate(lines, 1):
        if line.startswith("问："):
            out.append({"q": line[2:].strip(), "a": ""})
        elif line.startswith("答：") and out and not out[-1]["a"]:
            out[-1]["a"] = line[2:].strip()
        else:
            raise CellError(f"{line!r}: each question is a line 问：… followed by its answer 答：…", n)
    for n, pair in enumerate(out, 1):
        if not pair["q"] or not pair["a"]:
            raise CellError(f"question {n} needs both 问：… and 答：…")
    return out


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool | float) or not isinstance(value, str | int):
        raise CellError(f"expected text, one entry per line, got {value!r}")
    return [line.strip() for line in str(value).splitlines() if line.strip()]


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a phone number or code typed as a number
    return value.strip() if isinstance(value, str) else value  # anything else: the loader says what is wrong


def _int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            return int(value)
        return value or None
    return value


def _bool(value: Any) -> Any:
    if value is None or value == "":
        return False
    if isinstance(value, str):
        return {YES: True, NO: False}.get(value.strip(), value.strip())
    return value


def _delivery(value: Any) -> list[str]:
    codes = {word: code for code, word in DELIVERY_WORDS.items()}
    out = []
    for n, word in enumerate(_lines(value), 1):
        if word not in codes:
            raise CellError(f"{word!r} must be one of {', '.join(DELIVERY_WORDS.values())} (one per line)", n)
        out.append(codes[word])
    return out


def _materials(value: Any) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(_lines(value), 1):
        try:
            out.append(parse_material(line))
        except CellError as exc:
            raise CellError(str(exc), n) from None
    return out


@dataclass(frozen=True)
class Kind:
    """How one kind of cell is read (into source-file shape) and written; ``words`` describes a wrong type."""

    read: Callable[[Any], Any]
    write: Callable[[Any], Any]
    words: str = ""
    default: Callable[[], Any] = str


def _join(values: list[str]) -> str:
    return "\n".join(values)


TEXT = Kind(_text, lambda v: v)
LINES = Kind(_lines, _join, "text, one entry per line", list)
INT = Kind(_int, lambda v: v, "a whole number of working days (0 = 即办)", lambda: None)
BOOL = Kind(_bool, lambda v: YES if v else NO, f"{YES} or {NO}", lambda: False)
MATERIALS = Kind(_materials, lambda ms: _join([format_material(Material(**m)) for m in ms]), "", list)
FAQ = Kind(lambda v: parse_faq(_lines(v)), lambda fs: format_faq((f["q"], f["a"]) for f in fs), "", list)
DELIVERY = Kind(_delivery, lambda codes: _join([DELIVERY_WORDS[c] for c in codes]), "", list)


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # dotted key in the source-file shape ("fee.charged"); "" for the department column
    kind: Kind = TEXT
    required: bool = True  # the column must be present (its cells may still be empty where the rules allow)


ITEM_COLUMNS = (
    Column("事项编码", "code"),
    Column("事项名称", "name"),
    Column("口语别名", "aliases", LINES, required=False),
    Column("实施机关", ""),
    Column("服务对象", "target"),
    Column("受理条件", "conditions", LINES),
    Column("申请材料", "materials", MATERIALS),
    Column("办理流程", "process", LINES),
    Column("法定时限", "legal_days", INT),
    Column("承诺时限", "promised_days", INT),
    Column("是否收费", "fee.charged", BOOL),
    Column("收费标准", "fee.standard"),
    Column("办理地点", "location"),
    Column("办理时间", "hours"),
    Column("咨询电话", "phone"),
    Column("设定依据", "basis", LINES),
    Column("网上办理", "online.web", BOOL),
    Column("掌上办理", "online.mobile", BOOL, required=False),
    Column("网办说明", "online.note", required=False),
    Column("全程网办", "online.full", BOOL, required=False),
    Column("送达方式", "delivery", DELIVERY),
    Column("容缺受理", "tolerance.allowed", BOOL, required=False),
    Column("容缺后补材料", "tolerance.later_materials", LINES, required=False),
    Column("双休日可办", "weekend", BOOL, required=False),
    Column("全城通办", "citywide", BOOL, required=False),
    Column("可预约", "bookable", BOOL, required=False),
    Column("自助机可办", "self_service", BOOL, required=False),
    Column("上门服务", "door_to_door", BOOL, required=False),
    Column("样表下载", "sample_form", BOOL, required=False),
    Column("常见问题", "faq", FAQ, required=False),
)
DEPARTMENT_COLUMNS = (
    Column("部门编码", "code"),
    Column("部门名称", "name"),
    Column("简称", "short_name"),
    Column("咨询电话", "phone", required=False),
)
BUNDLE_COLUMNS = (
    Column("编码", "code"),
    Column("名称", "name"),
    Column("类别", "kind", required=False),
    Column("口语别名", "aliases", LINES, required=False),
    Column("综合窗口", "window"),
    Column("包含事项", "items", LINES),
    Column("说明", "note", required=False),
)
SHEET_COLUMNS = {ITEMS: ITEM_COLUMNS, DEPARTMENTS: DEPARTMENT_COLUMNS, BUNDLES: BUNDLE_COLUMNS}
