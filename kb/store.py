"""The KB in the database: import from source files, load into dataclasses, export back, edit one item at a time.

Every change goes through a caller-supplied session (the caller owns the transaction) and bumps the single
revision counter, which running IVRs poll (`kb.reloader`) to rebuild their index without a restart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hotline.errors import HotlineError
from hotline.models.base import utcnow
from hotline.models.kb import (
    KBAlias,
    KBBundle,
    KBCentreFact,
    KBDepartment,
    KBFaq,
    KBItem,
    KBMaterial,
    KBRevision,
)
from hotline.models.users import AuditLog
from kb.loader import KBValidationError, _Reader
from kb.schema import Bundle, Department, Faq, Fee, Item, KnowledgeBase, Material, Online, Tolerance


class KBError(HotlineError):
    """A KB edit cannot be made (unknown item, alias already taken...)."""


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    revision: int = 0

    def __str__(self) -> str:
        return (f"{self.added} added, {self.updated} updated, {self.removed} removed, "
                f"{self.unchanged} unchanged; KB revision {self.revision}")


# -------------------------------------------------------------------------------------------------------- revision


def current_revision(session: Session) -> int:
    """The KB revision (0 when nothing was ever imported); one indexed single-row read, cheap to poll."""
    return session.scalar(select(KBRevision.revision).where(KBRevision.id == 1)) or 0


def bump_revision(session: Session, user: str | None = None) -> int:
    row = session.get(KBRevision, 1)
    if row is None:
        row = KBRevision(id=1, revision=0)
        session.add(row)
    row.revision += 1
    row.changed_at = utcnow()
    row.changed_by = user
    session.flush()
    return row.revision


# ------------------------------------------------------------------------------------------------ dataclass <-> row


def _item_from_row(row: KBItem) -> Item:
    return Item(
        code=row.code,
        name=row.name,
        target=row.target,
        conditions=list(row.conditions),
        materials=[Material(m.name, m.form, m.copies, m.required, m.note) for m in row.materials],
        process=list(row.process),
        legal_days=row.legal_days,
        promised_days=row.promised_days,
        fee=Fee(row.fee_charged, row.fee_standard),
        location=row.location,
        online=Online(row.online_web, row.online_mobile, row.online_note, row.online_full),
        delivery=list(row.delivery),
        tolerance=Tolerance(row.tolerance_allowed, list(row.tolerance_later)),
        weekend=row.weekend,
        bookable=row.bookable,
        self_service=row.self_service,
        aliases=[a.text for a in row.aliases],
        hours=row.hours,
        phone=row.phone,
        basis=list(row.basis),
        faq=[Faq(f.question, f.answer) for f in row.faqs],
        citywide=row.citywide,
        door_to_door=row.door_to_door,
        sample_form=row.sample_form,
        department=row.department.code,
    )


def _fill_item_row(session: Session, row: KBItem, item: Item) -> None:
    row.name, row.target = item.name, item.target
    row.conditions, row.process, row.basis = list(item.conditions), list(item.process), list(item.basis)
    row.legal_days, row.promised_days = item.legal_days, item.promised_days
    row.fee_charged, row.fee_standard = item.fee.charged, item.fee.standard
    row.location, row.hours, row.phone = item.location, item.hours, item.phone
    row.online_web, row.online_mobile, row.online_note = item.online.web, item.online.mobile, item.online.note
    row.online_full = item.online.full
    row.delivery = list(item.delivery)
    row.tolerance_allowed, row.tolerance_later = item.tolerance.allowed, list(item.tolerance.later_materials)
    row.weekend, row.bookable, row.self_service = item.weekend, item.bookable, item.self_service
    row.citywide, row.door_to_door, row.sample_form = item.citywide, item.door_to_door, item.sample_form
    # Old child rows go first: re-inserting an unchanged alias before the delete would hit its unique key.
    if row.id is not None:
        row.materials.clear()
        row.faqs.clear()
        row.aliases.clear()
        session.flush()
    row.materials = [
        KBMaterial(position=i, name=m.name, form=m.form, copies=m.copies, required=m.required, note=m.note)
        for i, m in enumerate(item.materials)
    ]
    row.faqs = [KBFaq(position=i, question=f.q, answer=f.a) for i, f in enumerate(item.faq)]
    row.aliases = [KBAlias(position=i, text=t) for i, t in enumerate(item.aliases)]


def _items_query():
    return select(KBItem).options(
        selectinload(KBItem.materials), selectinload(KBItem.faqs), selectinload(KBItem.aliases),
        selectinload(KBItem.department),
    )


def load_kb(session: Session) -> KnowledgeBase:
    """The whole KB as plain dataclasses (what the QA engine indexes)."""
    kb = KnowledgeBase(revision=current_revision(session))
    depts = {d.id: Department(d.code, d.name, d.short_name, d.phone)
             for d in session.scalars(select(KBDepartment).order_by(KBDepartment.code))}
    for row in session.scalars(_items_query().order_by(KBItem.department_id, KBItem.position, KBItem.code)):
        depts[row.department_id].items.append(_item_from_row(row))
    kb.departments = list(depts.values())
    kb.bundles = [Bundle(b.code, b.name, b.window, list(b.item_codes), list(b.aliases), b.note, b.kind)
                  for b in session.scalars(select(KBBundle).order_by(KBBundle.position, KBBundle.code))]
    kb.centre = {f.key: f.value for f in session.scalars(select(KBCentreFact).order_by(KBCentreFact.position))}
    return kb


def has_kb(session: Session) -> bool:
    return session.scalar(select(KBItem.id).limit(1)) is not None


# ---------------------------------------------------------------------------------------------------------- import


def import_kb(session: Session, kb: KnowledgeBase, user: str | None = None) -> ImportReport:
    """Make the DB mirror ``kb`` (validated source files): upsert by code, remove what the files no longer have.

    Runs inside the caller's transaction, so a failure anywhere leaves the DB as it was. Re-importing the same
    files changes nothing and leaves the revision alone.
    """
    report = ImportReport()
    old_depts = {d.code: d for d in session.scalars(select(KBDepartment))}
    for dept in kb.departments:
        row = old_depts.get(dept.code) or KBDepartment(code=dept.code)
        if (row.name, row.short_name, row.phone) != (dept.name, dept.short_name, dept.phone):
            if row.id is None:
                report.added += 1
            else:
                report.updated += 1
            row.name, row.short_name, row.phone = dept.name, dept.short_name, dept.phone
            session.add(row)
        old_depts[dept.code] = row
    session.flush()

    old_items = {r.code: r for r in session.scalars(_items_query())}
    wanted = set()
    for dept in kb.departments:
        for pos, item in enumerate(dept.items):
            wanted.add(item.code)
            row = old_items.get(item.code)
            if row is not None and _item_from_row(row) == item and row.position == pos:
                report.unchanged += 1
                continue
            if row is None:
                row = KBItem(code=item.code)
                session.add(row)
                report.added += 1
            else:
                report.updated += 1
            row.department = old_depts[dept.code]
            row.position = pos
            _fill_item_row(session, row, item)
    for code, row in old_items.items():
        if code not in wanted:
            session.delete(row)
            report.removed += 1
    session.flush()
    for code, row in old_depts.items():
        if code not in {d.code for d in kb.departments}:
            session.delete(row)
            report.removed += 1

    old_bundles = {b.code: b for b in session.scalars(select(KBBundle))}
    for pos, bundle in enumerate(kb.bundles):
        row = old_bundles.pop(bundle.code, None)
        values = dict(position=pos, name=bundle.name, aliases=list(bundle.aliases), window=bundle.window,
                      item_codes=list(bundle.items), note=bundle.note, kind=bundle.kind)
        if row is None:
            session.add(KBBundle(code=bundle.code, **values))
            report.added += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            report.updated += 1
        else:
            report.unchanged += 1
    for row in old_bundles.values():
        session.delete(row)
        report.removed += 1

    old_facts = {f.key: f for f in session.scalars(select(KBCentreFact))}
    for pos, (key, value) in enumerate(kb.centre.items()):
        row = old_facts.pop(key, None)
        if row is None:
            session.add(KBCentreFact(key=key, position=pos, value=value))
            report.added += 1
        elif (row.value, row.position) != (value, pos):
            row.value, row.position = value, pos
            report.updated += 1
    for row in old_facts.values():
        session.delete(row)
        report.removed += 1

    session.flush()
    changed = report.added or report.updated or report.removed
    report.revision = current_revision(session)
    if changed or report.revision == 0:
        report.revision = bump_revision(session, user)
    return report


# ---------------------------------------------------------------------------------------------------------- export


def _plain(obj: object) -> object:
    """Dataclasses -> dicts in README field order; the loader-set ``department`` is not part of the source."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "department"}
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    return obj


_ITEM_ORDER = ("code", "name", "aliases", "target", "conditions", "materials", "process", "legal_days",
               "promised_days", "fee", "location", "hours", "phone", "basis", "online", "delivery", "tolerance",
               "weekend", "bookable", "self_service", "citywide", "door_to_door", "sample_form", "faq")


def item_to_dict(item: Item) -> dict:
    plain = _plain(item)
    return {k: plain[k] for k in _ITEM_ORDER}


def bundle_to_dict(bundle: Bundle) -> dict:
    return {"code": bundle.code, "name": bundle.name, "kind": bundle.kind, "aliases": list(bundle.aliases),
            "window": bundle.window, "items": list(bundle.items), "note": bundle.note}


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000, default_flow_style=False)


EXPORT_HEADER = "# 示例数据，须由服务中心核实 — exported by `hotline kb export`; SAMPLE DATA until verified.\n"


def source_texts(kb: KnowledgeBase) -> dict[str, str]:
    """The source files for ``kb`` as {relative path: YAML text}; loading them back gives the same KnowledgeBase."""
    texts = {"centre.yaml": EXPORT_HEADER + _dump(dict(kb.centre))}
    for dept in kb.departments:
        data = {
            "department": {"code": dept.code, "name": dept.name, "short_name": dept.short_name, "phone": dept.phone},
            "items": [item_to_dict(i) for i in dept.items],
        }
        texts[f"departments/{dept.code}.yaml"] = EXPORT_HEADER + _dump(data)
    texts["bundles.yaml"] = EXPORT_HEADER + _dump({"bundles": [bundle_to_dict(b) for b in kb.bundles]})
    return texts


def export_kb(kb: KnowledgeBase, directory: str | Path) -> list[Path]:
    """Write the source files for ``kb`` into ``directory``; loading them back gives the same KnowledgeBase."""
    root = Path(directory)
    (root / "departments").mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in source_texts(kb).items():
        path = root / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------- admin edits, one item


def _audit(session: Session, user: str, action: str, target: str, before: dict | None, after: dict | None) -> None:
    session.add(AuditLog(username=user, action=action, target=f"kb_item:{target}", before=before, after=after))


def parse_item(item_dict: dict, department: str = "") -> Item:
    """Validate one item given as a dict (the admin form) with the same rules as the source files."""
    node = yaml.compose(_dump(item_dict), Loader=yaml.SafeLoader)
    problems: list = []
    from kb.loader import _check_item  # same checks as a file, minus the cross-file ones done below

    reader = _Reader("item", problems)
    item = reader.record(Item, node, "item", skip=("department",))
    if item is not None:
        _check_item(item, node, "item", reader)
    if problems:
        raise KBValidationError(problems)
    item.department = department
    return item


def _taken_aliases(session: Session, except_code: str | None = None) -> dict[str, str]:
    taken: dict[str, str] = {}
    for code, text in session.execute(select(KBItem.code, KBAlias.text).join(KBAlias.item)):
        if code != except_code:
            taken[text] = code
    for bundle in session.scalars(select(KBBundle)):
        for text in bundle.aliases:
            taken[text] = bundle.code
    return taken


def save_item(session: Session, item_dict: dict, user: str, department: str | None = None) -> Item:
    """Create or update one item from a dict in source-file shape; audited, bumps the revision.

    ``department`` (code) is needed for a new item; an existing item keeps its department unless given.
    """
    code = str(item_dict.get("code", ""))
    row = session.scalars(_items_query().where(KBItem.code == code)).one_or_none()
    dept_code = department or (row.department.code if row else None)
    if dept_code is None:
        raise KBError(f"new item {code}: department is required")
    dept = session.scalars(select(KBDepartment).where(KBDepartment.code == dept_code)).one_or_none()
    if dept is None:
        raise KBError(f"department {dept_code} does not exist")
    item = parse_item(item_dict, dept_code)
    taken = _taken_aliases(session, except_code=code)
    clash = [a for a in item.aliases if a in taken]
    if clash:
        raise KBError(f"alias {clash[0]} is already used by {taken[clash[0]]}")
    before = item_to_dict(_item_from_row(row)) if row else None
    if row is None:
        position = len(dept.items)
        row = KBItem(code=code, department=dept, position=position)
        session.add(row)
    row.department = dept
    _fill_item_row(session, row, item)
    row.updated_by = user
    _audit(session, user, "kb_item_save", code, before, item_to_dict(item))
    bump_revision(session, user)
    return item


def delete_item(session: Session, code: str, user: str) -> None:
    row = session.scalars(_items_query().where(KBItem.code == code)).one_or_none()
    if row is None:
        raise KBError(f"item {code} does not exist")
    _audit(session, user, "kb_item_delete", code, item_to_dict(_item_from_row(row)), None)
    session.delete(row)
    bump_revision(session, user)


def _item_row(session: Session, code: str) -> KBItem:
    row = session.scalars(_items_query().where(KBItem.code == code)).one_or_none()
    if row is None:
        raise KBError(f"item {code} does not exist")
    return row


def add_alias(session: Session, item_code: str, text: str, user: str = "system") -> None:
    """The admin "teach" action: a phrase callers used becomes an alias of the item."""
    text = text.strip()
    if not text:
        raise KBError("alias must not be empty")
    row = _item_row(session, item_code)
    owner = _taken_aliases(session).get(text)
    if owner == item_code:
        return
    if owner is not None:
        raise KBError(f"alias {text} is already used by {owner}")
    row.aliases.append(KBAlias(position=len(row.aliases), text=text))
    _audit(session, user, "kb_alias_add", item_code, None, {"alias": text})
    bump_revision(session, user)


def add_faq(session: Session, item_code: str, q: str, a: str, user: str = "system") -> None:
    """The admin "teach" action: a question and its answer become an FAQ entry of the item."""
    q, a = q.strip(), a.strip()
    if not q or not a:
        raise KBError("FAQ question and answer must not be empty")
    row = _item_row(session, item_code)
    row.faqs.append(KBFaq(position=len(row.faqs), question=q, answer=a))
    _audit(session, user, "kb_faq_add", item_code, None, {"q": q, "a": a})
    bump_revision(session, user)
