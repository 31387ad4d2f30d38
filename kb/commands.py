"""`hotline kb validate|check|import|export|stats` and `hotline ask`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError

from hotline.config import Settings
from hotline.errors import HotlineError
from kb.loader import default_data_dir, load_dir, validate_dir


class KBCommandError(HotlineError):
    pass


def _sessionmaker(settings: Settings):
    from hotline.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.effective_database_url))


def _not_migrated(exc: Exception) -> KBCommandError:
    return KBCommandError(f"the database has no knowledge-base tables ({type(exc).__name__}); "
                          "run `hotline db upgrade` first")


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    directory = Path(args.dir) if args.dir else default_data_dir()
    kb, problems = validate_dir(directory)
    for problem in problems:
        print(problem)
    if kb is None:
        print(f"{directory}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{directory}: OK, {len(kb.departments)} departments, {len(kb.items())} items, "
          f"{len(kb.bundles)} bundles, {len(kb.centre)} centre facts")
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.db import session_scope
    from kb.store import import_kb

    source = Path(args.source) if args.source else default_data_dir()
    if source.is_file() or source.suffix.lower() in (".xlsx", ".csv"):
        return _import_spreadsheet(source, args, settings)
    kb = load_dir(source)  # raises with every problem listed; nothing is written then
    try:
        with session_scope(_sessionmaker(settings)) as session:
            report = import_kb(session, kb, user=args.user)
    except (OperationalError, ProgrammingError) as exc:
        raise _not_migrated(exc) from None
    print(f"imported {source}: {report}")
    return 0


def _import_spreadsheet(path: Path, args: argparse.Namespace, settings: Settings) -> int:
    from hotline.db import session_scope
    from kb.sheets import SpreadsheetError, format_of, import_spreadsheet

    fmt = format_of(path)
    if not path.is_file():
        raise KBCommandError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        with session_scope(_sessionmaker(settings)) as session:
            report = import_spreadsheet(session, data, fmt, user=args.user)
    except (OperationalError, ProgrammingError) as exc:
        raise _not_migrated(exc) from None
    except SpreadsheetError as exc:  # the transaction was rolled back: the KB is as it was
        for problem in exc.problems:
            print(f"{path}:{problem}")
        print(f"{path}: {len(exc.problems)} problem(s); nothing imported", file=sys.stderr)
        return 1
    print(f"imported {path}: {report}")
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from kb.store import export_kb, has_kb, load_kb

    try:
        with _sessionmaker(settings)() as session:
            if not has_kb(session):
                raise KBCommandError("the database holds no knowledge base; run `hotline kb import` first")
            kb = load_kb(session)
    except (OperationalError, ProgrammingError) as exc:
        raise _not_migrated(exc) from None
    if args.format == "yaml":
        written = export_kb(kb, args.target)
        print(f"exported KB revision {kb.revision} to {args.target}: {len(written)} files")
        return 0
    from kb.sheets import write_spreadsheet

    write_spreadsheet(kb, args.target, args.format)
    print(f"exported KB revision {kb.revision} to {args.target}: {len(kb.items())} items")
    return 0


def _cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from kb.check import check_dir

    directory = Path(args.dir) if args.dir else default_data_dir()
    problems = check_dir(directory)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{directory}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{directory}: OK, content checks passed")
    return 0


def _cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    kb, source = _load_for_reading(settings)
    items = kb.items()
    print(f"source: {source}")
    print(f"revision: {kb.revision}")
    print(f"departments: {len(kb.departments)}")
    for dept in kb.departments:
        print(f"  {dept.code:<8} {dept.short_name:<8} {len(dept.items)} items")
    print(f"items: {len(items)}")
    print(f"aliases: {sum(len(i.aliases) for i in items) + sum(len(b.aliases) for b in kb.bundles)}")
    print(f"faq: {sum(len(i.faq) for i in items)}")
    print(f"materials: {sum(len(i.materials) for i in items)}")
    print(f"bundles: {len(kb.bundles)}")
    print(f"centre facts: {len(kb.centre)}")
    return 0


def _load_for_reading(settings: Settings):
    """The KB from the database; if it has none (or no tables), the packaged source files, with a note."""
    from kb.store import has_kb, load_kb

    try:
        with _sessionmaker(settings)() as session:
            if has_kb(session):
                return load_kb(session), f"database {settings.masked()['effective_database_url']}"
    except (OperationalError, ProgrammingError):
        pass
    directory = default_data_dir()
    print(f"note: the database has no knowledge base; reading {directory} directly "
          "(run `hotline db upgrade` and `hotline kb import`)", file=sys.stderr)
    return load_dir(directory), str(directory)


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from kb.qa import QAEngine

    kb, _ = _load_for_reading(settings)
    engine = QAEngine.learned(kb, cache_path=settings.meaning_cache)
    if args.context_item and engine.item(args.context_item) is None and kb.bundle(args.context_item) is None:
        raise KBCommandError(f"--context-item {args.context_item}: no such item")
    answer = engine.answer(args.question, context_item=args.context_item)
    if args.json:
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False))
        return 0
    if answer.abstained and not answer.clarify:
        print(f"[未作答] 置信度 {answer.confidence:.2f}")
    elif answer.clarify:
        print(f"[需澄清] 置信度 {answer.confidence:.2f}")
    else:
        print(f"{answer.item_code} {answer.item_name}（{answer.department or '中心'}）"
              f" 方面 {answer.aspect} 置信度 {answer.confidence:.2f}")
    print(answer.answer)
    for alt in answer.alternatives[1:] if not answer.clarify else answer.alternatives:
        print(f"  候选 {alt.item_code} {alt.item_name} {alt.score:.2f}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    kb = sub.add_parser("kb", help="knowledge base: validate, check, import, export, stats").add_subparsers(
        dest="kb_command", required=True)
    p = kb.add_parser("validate", help="check the source files; every problem as file:line: field: message")
    p.add_argument("dir", nargs="?", help="source directory (default: the packaged kb/data)")
    p.set_defaults(func=_cmd_validate)
    p = kb.add_parser("import", help="load the source files or a spreadsheet into the database (one transaction)")
    p.add_argument("source", nargs="?",
                   help="source directory (default: the packaged kb/data), or a FILE.xlsx / FILE.csv 办事指南")
    p.add_argument("--user", default="cli", help="recorded as who changed the KB")
    p.set_defaults(func=_cmd_import)
    p = kb.add_parser("export", help="write the database KB back as source files or a spreadsheet")
    p.add_argument("--format", choices=("yaml", "xlsx", "csv"), default="yaml",
                   help="yaml: a source directory (default); xlsx: 事项/部门/一件事 sheets; csv: the 事项 sheet")
    p.add_argument("target", help="directory (yaml) or file (xlsx, csv)")
    p.set_defaults(func=_cmd_export)
    p = kb.add_parser("check", help="content lint of the source files: the 14 elements, consistency, speakable text")
    p.add_argument("dir", nargs="?", help="source directory (default: the packaged kb/data)")
    p.set_defaults(func=_cmd_check)
    p = kb.add_parser("stats", help="counts of departments, items, aliases, FAQ, bundles")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("ask", help="answer one question from the knowledge base")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument("--context-item", help="item code talked about before (for follow-ups)")
    p.set_defaults(func=_cmd_ask)
