"""`hotline kb check`: content rules over the source files, beyond what the loader's schema validation enforces.

The loader decides whether the files can be read at all (types, enums, unique codes and aliases, bundle items
that exist, later materials that are the item's own). This lint decides whether they are fit to be read to a
caller: every item has the 14 elements of a 办事指南, the numbers agree with each other, aliases say something,
every text fits in one breath, and every file is marked as sample data until the centre has verified it.
Problems are ``file:line: field: message``, the same shape as the loader's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from kb.loader import Problem, validate_dir
from kb.schema import Bundle, Item, KnowledgeBase

SAMPLE_MARK = "示例数据，须由服务中心核实"  # first line of every source file until the centre verifies it
SPOKEN_MAX = 40  # characters of one spoken text (a condition, step, material, FAQ answer): one breath on the phone
CENTRE_SPOKEN_MAX = SPOKEN_MAX + 10  # centre facts are read alone, with no item name before them
ALIAS_MIN = 2
# Words many items share: as an alias they would send every caller who says them to one arbitrary item.
GENERIC_ALIASES = frozenset({
    "执照", "过户", "补贴", "证明", "办证", "证件", "证书", "登记", "许可", "备案", "审批", "申请", "手续", "办事",
    "办理", "补办", "换证", "注销", "变更", "年检", "年审", "发票", "社保", "医保", "公积金", "户口", "房产",
    "营业", "开业", "补助", "救助", "报销", "缴费", "交钱", "材料", "预约", "查询", "证", "卡", "章",
})


class _Lines:
    """Where each item and bundle is in its file, to point a problem at the right line."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str, yaml.MappingNode]] = {}
        self.bundles: dict[str, tuple[str, yaml.MappingNode]] = {}
        self.first_lines: dict[str, str] = {}

    def read(self, path: Path, kind: str) -> None:
        text = path.read_text(encoding="utf-8")
        self.first_lines[str(path)] = text.split("\n", 1)[0]
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if key.value == kind and isinstance(value, yaml.SequenceNode):
                for entry in value.value:
                    code = _child(entry, "code")
                    if isinstance(code, yaml.ScalarNode):
                        (self.items if kind == "items" else self.bundles)[code.value] = (str(path), entry)

    def at(self, where: tuple[str, yaml.MappingNode], field: str) -> tuple[str, int]:
        path, node = where
        target: yaml.Node | None = node
        for key in field.split("."):
            child = _child(target, key)
            if child is None:
                break
            target = child
        return path, (target or node).start_mark.line + 1


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def check_dir(directory: str | Path) -> list[Problem]:
    """Every content problem of the source files (schema problems first: nothing else is checked then)."""
    root = Path(directory)
    kb, problems = validate_dir(root)
    if kb is None:
        return problems
    lines = _Lines()
    files = [*sorted((root / "departments").glob("*.yaml")), root / "bundles.yaml", root / "centre.yaml"]
    for path in files:
        if path.exists():
            lines.read(path, "bundles" if path.name == "bundles.yaml" else "items")
    out: list[Problem] = []
    for path, first in lines.first_lines.items():
        if SAMPLE_MARK not in first:
            out.append(Problem(path, 1, "(file)", f"first line must mark the file as sample data ({SAMPLE_MARK})"))
    for dept in kb.departments:
        if not dept.phone:
            path = str(root / "departments" / f"{dept.code}.yaml")
            out.append(Problem(path, 1, "department.phone", "咨询电话 is empty"))
    for item in kb.items():
        for field, message in item_problems(item, kb):
            path, line = lines.at(lines.items[item.code], field)
            out.append(Problem(path, line, f"{item.code}.{field}", message))
    for bundle in kb.bundles:
        for field, message in bundle_problems(bundle, kb):
            path, line = lines.at(lines.bundles[bundle.code], field)
            out.append(Problem(path, line, f"{bundle.code}.{field}", message))
    centre = str(root / "centre.yaml")
    for key, value in kb.centre.items():
        for text in value if isinstance(value, list) else [value]:
            if len(text) > CENTRE_SPOKEN_MAX:
                out.append(Problem(centre, 1, key, f"{len(text)} characters, more than {CENTRE_SPOKEN_MAX} to read aloud"))
    return out


def item_problems(item: Item, kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(field, message) for one item's content."""
    out: list[tuple[str, str]] = []
    # The 14 elements of a 办事指南 (name and target are enforced by the loader already).
    for field, value, label in (("conditions", item.conditions, "受理条件"), ("materials", item.materials, "申请材料"),
                                ("process", item.process, "办理流程"), ("location", item.location, "办理地点"),
                                ("basis", item.basis, "设定依据"), ("delivery", item.delivery, "送达方式")):
        if not value:
            out.append((field, f"{label} is empty"))
    if item.fee.charged and not item.fee.standard:
        out.append(("fee.standard", "收费标准 is empty although the item is charged"))
    if not item.fee.charged and item.fee.standard:
        out.append(("fee.standard", "收费标准 is filled although the item is free (charged: false)"))
    dept = kb.department(item.department)
    if not item.phone and not (dept and dept.phone):
        out.append(("phone", "咨询电话 is empty for the item and its department"))
    if item.promised_days > item.legal_days:
        out.append(("promised_days", f"承诺时限 {item.promised_days} is longer than 法定时限 {item.legal_days}"))
    if item.tolerance.allowed and not item.tolerance.later_materials:
        out.append(("tolerance.later_materials", "容缺受理 is allowed but no material may follow later"))
    if not item.tolerance.allowed and item.tolerance.later_materials:
        out.append(("tolerance.later_materials", "materials may follow later although 容缺受理 is not allowed"))
    if len(set(item.delivery)) != len(item.delivery):
        out.append(("delivery", "a mode is listed twice"))
    if "express_two_way" in item.delivery and not {"window", "express_one_way"} & set(item.delivery):
        out.append(("delivery", "express_two_way goes with window or express_one_way (how the result comes back)"))
    if item.online.full and not (item.online.web or item.online.mobile):
        out.append(("online.full", "全程网办 needs online.web or online.mobile"))
    for name, n in Counter(m.name for m in item.materials).items():
        if n > 1:
            out.append(("materials", f"{name!r} is listed {n} times"))
    for field, alias_problem in _alias_problems(item.aliases, item.name, kb):
        out.append((field, alias_problem))
    for faq in item.faq:
        if not faq.q or not faq.a:
            out.append(("faq", "every question needs an answer"))
    spoken = [("conditions", t) for t in item.conditions] + [("process", t) for t in item.process]
    spoken += [("materials", m.name) for m in item.materials] + [("faq", f.a) for f in item.faq]
    for field, text in spoken:
        if len(text) > SPOKEN_MAX:
            out.append((field, f"{text[:12]}… is {len(text)} characters, more than {SPOKEN_MAX} to read aloud"))
    texts = [item.name, item.location, item.hours, item.phone, item.fee.standard, item.online.note, *item.aliases,
             *item.conditions, *item.process, *item.basis, *(m.name for m in item.materials),
             *(m.note for m in item.materials), *(t for f in item.faq for t in (f.q, f.a))]
    if any("\n" in t for t in texts):
        out.append(("name", "a text contains a line break (spreadsheet cells keep one entry per line)"))
    return out


def bundle_problems(bundle: Bundle, kb: KnowledgeBase) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not bundle.window:
        out.append(("window", "综合窗口 is empty"))
    if len(set(bundle.items)) != len(bundle.items):
        out.append(("items", "an item is listed twice"))
    if len(bundle.note) > CENTRE_SPOKEN_MAX:
        out.append(("note", f"{len(bundle.note)} characters, more than {CENTRE_SPOKEN_MAX} to read aloud"))
    out += _alias_problems(bundle.aliases, bundle.name, kb)
    return out


def _alias_problems(aliases: list[str], own_name: str, kb: KnowledgeBase) -> list[tuple[str, str]]:
    names = {i.name for i in kb.items()} | {b.name for b in kb.bundles}
    out = []
    for alias in aliases:
        if alias in GENERIC_ALIASES:
            out.append(("aliases", f"{alias!r} is a generic word shared by many items"))
        elif len(alias) < ALIAS_MIN:
            out.append(("aliases", f"{alias!r} is too short to identify an item"))
        elif alias != own_name and alias in names:
            out.append(("aliases", f"{alias!r} is the name of another item or bundle"))
    return out
