"""Knowledge-base editing for the panel, on top of kb.store and the kb.loader validation rules.

Single items go through ``kb.store.save_item`` (item-level checks + alias uniqueness, audited, bumps the
revision). Departments, bundles and centre facts are edited by changing a loaded KnowledgeBase, writing it out
as source files (in memory) and validating them exactly as ``hotline kb validate`` does before importing,
so the panel can never store a KB the command line would reject. Spreadsheets go through ``kb.sheets``,
which validates the same way.
"""

from __future__ import annotations

import copy
import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from admin.services import audit
from hotline.errors import HotlineError
from hotline.models.kb import KBAlias, KBDepartment, KBItem
from kb.loader import KBValidationError, Problem, validate_dir, validate_texts
from kb.schema import Bundle, KnowledgeBase
from kb.sheets import SheetProblem, SpreadsheetError, import_spreadsheet, write_spreadsheet
from kb.store import (
    KBError,
    bundle_to_dict,
    export_kb,
    import_kb,
    item_to_dict,
    load_kb,
    save_item,
    source_texts,
)


class KBEditError(HotlineError):
    """An edit the KB rules reject; ``problems`` are shown next to the form."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("；".join(problems))


def _messages(problems: list[Problem]) -> list[str]:
    # Temporary file paths mean nothing to the editor: field and message only.
    return [f"{p.field}: {p.message}" for p in problems]


@dataclass(frozen=True)
class ItemRow:
    code: str
    name: str
    department: str
    aliases: str


def search_items(session: Session, query: str = "", department: str = "", limit: int = 300) -> list[ItemRow]:
    stmt = select(KBItem.id, KBItem.code, KBItem.name, KBDepartment.short_name).join(KBItem.department)
    if department:
        stmt = stmt.where(KBDepartment.code == department)
    if query:
        # autoescape: % and _ typed by the user are literal characters, not "match anything".
        alias_hit = select(KBAlias.item_id).where(KBAlias.text.contains(query, autoescape=True))
        stmt = stmt.where(or_(KBItem.code.contains(query, autoescape=True), KBItem.name.contains(query, autoescape=True),
                              KBItem.id.in_(alias_hit)))
    rows = session.execute(stmt.order_by(KBDepartment.code, KBItem.position, KBItem.code).limit(limit)).all()
    aliases: dict[int, list[str]] = {r.id: [] for r in rows}
    if aliases:
        for item_id, text in session.execute(
            select(KBAlias.item_id, KBAlias.text).where(KBAlias.item_id.in_(aliases)).order_by(KBAlias.position)
        ):
            aliases[item_id].append(text)
    return [ItemRow(r.code, r.name, r.short_name, "、".join(aliases[r.id])) for r in rows]


def departments(session: Session) -> list[KBDepartment]:
    return list(session.scalars(select(KBDepartment).order_by(KBDepartment.code)))


def item_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(KBItem)) or 0


def item_dict(session: Session, code: str) -> tuple[dict, str]:
    """The item in source-file shape and its department code."""
    item = load_kb(session).item(code)
    if item is None:
        raise KBEditError([f"事项 {code} 不存在"])
    return item_to_dict(item), item.department


def _save(session: Session, data: dict, user: str, department: str | None) -> None:
    try:
        save_item(session, data, user, department)
    except KBValidationError as exc:
        raise KBEditError(_messages(exc.problems)) from None
    except KBError as exc:
        raise KBEditError([str(exc)]) from None


ITEM_FLAGS = ("weekend", "bookable", "self_service", "citywide", "door_to_door", "sample_form")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def save_item_form(session: Session, code: str, form: dict, user: str) -> None:
    """Update the common fields of an existing item from the edit form; everything else stays as it is."""
    data, _dept = item_dict(session, code)
    data = copy.deepcopy(data)
    data["name"] = form["name"].strip()
    data["aliases"] = _lines(form["aliases"])
    data["conditions"] = _lines(form["conditions"])
    data["process"] = _lines(form["steps"])
    data["location"] = form["location"].strip()
    data["hours"] = form["hours"].strip()
    data["phone"] = form["phone"].strip()
    data["legal_days"] = form["legal_days"]
    data["promised_days"] = form["promised_days"]
    data["fee"] = {"charged": bool(form["fee_charged"]), "standard": form["fee_standard"].strip()}
    for flag in ITEM_FLAGS:
        data[flag] = bool(form[flag])
    data["online"] = {**data["online"], "full": bool(form["online_full"])}
    _save(session, data, user, None)


def item_yaml(session: Session, code: str) -> str:
    data, _ = item_dict(session, code)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def save_item_yaml(session: Session, text: str, user: str, *, code: str | None, department: str | None) -> str:
    """Create (code None, department given) or replace one item from its YAML; returns the item code."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KBEditError([f"YAML 格式错误：{exc}"]) from None
    if not isinstance(data, dict):
        raise KBEditError(["内容应为一个事项（键值对）"])
    if code is not None and data.get("code") != code:
        raise KBEditError([f"不能在此修改事项编码（应为 {code}）"])
    if code is None and load_kb(session).item(str(data.get("code"))) is not None:
        raise KBEditError([f"事项编码 {data.get('code')} 已存在"])
    _save(session, data, user, department)
    return str(data["code"])


def item_history(session: Session, code: str) -> list:
    return audit.history(session, f"kb_item:{code}")


# ------------------------------------------------------------------- whole-KB edits (departments, bundles, centre)


def _replace(session: Session, kb: KnowledgeBase, user: str) -> KnowledgeBase:
    checked, problems = validate_texts(source_texts(kb))
    if checked is None:
        raise KBEditError(_messages(problems))
    import_kb(session, checked, user)
    return checked


def save_department(session: Session, code: str, name: str, short_name: str, phone: str, user: str) -> None:
    kb = load_kb(session)
    dept = kb.department(code)
    if dept is None:
        raise KBEditError([f"部门 {code} 不存在"])
    before = {"name": dept.name, "short_name": dept.short_name, "phone": dept.phone}
    dept.name, dept.short_name, dept.phone = name.strip(), short_name.strip(), phone.strip()
    _replace(session, kb, user)
    audit.record(session, user, "kb_department_save", f"kb_department:{code}", before,
                 {"name": dept.name, "short_name": dept.short_name, "phone": dept.phone})


def bundles_yaml(session: Session) -> str:
    data = [bundle_to_dict(b) for b in load_kb(session).bundles]
    return yaml.safe_dump({"bundles": data}, allow_unicode=True, sort_keys=False, width=1000)


def save_bundles_yaml(session: Session, text: str, user: str) -> None:
    before = yaml.safe_load(bundles_yaml(session))
    kb = load_kb(session)
    try:
        data = yaml.safe_load(text) or {}
        kb.bundles = [Bundle(code=str(b["code"]), name=b["name"], window=b.get("window", ""),
                             items=list(b.get("items") or []), aliases=list(b.get("aliases") or []),
                             note=b.get("note", ""), kind=b.get("kind") or "") for b in data.get("bundles") or []]
    except (yaml.YAMLError, AttributeError, KeyError, TypeError) as exc:
        raise KBEditError([f"格式错误：{exc}"]) from None
    _replace(session, kb, user)
    audit.record(session, user, "kb_bundles_save", "kb_bundles", before, data)


def centre_yaml(session: Session) -> str:
    return yaml.safe_dump(dict(load_kb(session).centre), allow_unicode=True, sort_keys=False, width=1000)


def save_centre_yaml(session: Session, text: str, user: str) -> None:
    kb = load_kb(session)
    before = dict(kb.centre)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise KBEditError([f"YAML 格式错误：{exc}"]) from None
    if not isinstance(data, dict):
        raise KBEditError(["中心信息应为键值对"])
    kb.centre = data
    _replace(session, kb, user)
    audit.record(session, user, "kb_centre_save", "kb_centre", before, data)


# --------------------------------------------------------------------------------------------- import / export

_ALLOWED = ("centre.yaml", "bundles.yaml")


def export_zip(session: Session) -> bytes:
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="kb-export-") as tmp:
        paths = export_kb(load_kb(session), tmp)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in paths:
                zf.write(path, path.relative_to(tmp).as_posix())
    return buf.getvalue()


def import_zip(session: Session, data: bytes, user: str) -> str:
    """Replace the KB with the source files in a zip (same layout as kb/data), validated first."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise KBEditError(["不是有效的 zip 文件"]) from None
    with tempfile.TemporaryDirectory(prefix="kb-import-") as tmp, zf:
        root = Path(tmp)
        for info in zf.infolist():
            name = PurePosixPath(info.filename)
            # Only the known layout is extracted; anything else (absolute paths, "..") is ignored.
            ok = name.as_posix() in _ALLOWED or (
                len(name.parts) == 2 and name.parts[0] == "departments" and name.suffix == ".yaml"
            )
            if not ok or info.file_size > 2 * 1024 * 1024:
                continue
            target = root.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
        kb, problems = validate_dir(root)
        if kb is None:
            raise KBEditError([str(p).replace(tmp + "/", "") for p in problems])
    report = import_kb(session, kb, user)
    audit.record(session, user, "kb_import", "kb", None, {"report": str(report)})
    return str(report)


# ------------------------------------------------------------------------------------- spreadsheets (办事指南)


class SpreadsheetRejected(HotlineError):
    """The uploaded sheet has problems; every one is listed by sheet, row and column, and nothing was imported."""

    def __init__(self, problems: list[SheetProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s)")


def export_spreadsheet(session: Session, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="kb-sheet-") as tmp:
        path = Path(tmp) / f"kb.{fmt}"
        write_spreadsheet(load_kb(session), path, fmt)
        return path.read_bytes()


def import_sheet(session: Session, data: bytes, fmt: str, user: str, max_bytes: int) -> str:
    """Replace the KB's items (and departments/bundles when the workbook has those sheets) from a spreadsheet."""
    if len(data) > max_bytes:
        raise KBEditError([f"文件过大（{len(data) // 1024} KB），上限 {max_bytes // 1024 // 1024} MB"])
    try:
        report = import_spreadsheet(session, data, fmt, user)
    except SpreadsheetError as exc:
        raise SpreadsheetRejected(exc.problems) from None
    audit.record(session, user, "kb_import_sheet", "kb", None, {"format": fmt, "report": str(report)})
    return str(report)
