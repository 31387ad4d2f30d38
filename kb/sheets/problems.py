"""Where a problem is: SheetProblem and SpreadsheetError, the rows a read remembers, and the mapping of a loader
problem (source file, YAML line, field path) back to the sheet, row and column it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError
from kb.loader import Problem
from kb.schema import KnowledgeBase
from kb.sheets.cells import BUNDLE_COLUMNS, BUNDLES, DEPARTMENT_COLUMNS, DEPARTMENTS, ITEM_COLUMNS, ITEMS, Column

UNPLACED = "zz_unplaced_rows"  # stand-in department for rows whose 实施机关 is unknown


@dataclass(frozen=True, order=True)
class SheetProblem:
    sheet: str
    row: int  # as the spreadsheet program numbers it: 1 is the header; 0 = not a row of this file
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.sheet}:{self.row}" if self.row else self.sheet
        return f"{where}: {self.column}: {self.message}"


class SpreadsheetError(HotlineError):
    """The spreadsheet has problems; ``problems`` lists every one of them and nothing was imported."""

    def __init__(self, problems: list[SheetProblem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"spreadsheet has {len(problems)} problem(s):\n{lines}")


@dataclass
class Row:
    number: int
    data: dict[str, Any]
    raw: dict[str, Any]  # header -> the cell as read, for messages


@dataclass
class Sheet:
    name: str
    columns: tuple[Column, ...]
    rows: list[Row] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)  # required columns not present


_INDEXED = re.compile(r"^(items|bundles)\[(\d+)\]\.?(.*)$")
_FIRST_AT = re.compile(r"first at (departments/\S+\.yaml|bundles\.yaml):(\d+)$")
_TYPE = re.compile(r"^expected .+, got .+$")


class ProblemMapper:
    """A loader problem (file, YAML line, field path) -> the sheet, row and column it came from."""

    def __init__(self, sheets: dict[str, Sheet], items_by_dept: dict[str, list[Row]], dept_rows: dict[str, Row],
                 bundle_rows: list[Row], current: KnowledgeBase, texts: dict[str, str | None]) -> None:
        self.sheets, self.items_by_dept, self.dept_rows = sheets, items_by_dept, dept_rows
        self.bundle_rows, self.current = bundle_rows, current
        # YAML line where each list entry starts, per file: for "first at <file>:<line>" in duplicate messages.
        self.starts = {name: [n for n, line in enumerate((text or "").splitlines(), 1) if line.startswith("- ")]
                       for name, text in texts.items()}

    def row_of(self, file: str, index: int) -> Row | None:
        rows = self.items_by_dept.get(Path(file).stem, []) if file.startswith("departments/") else self.bundle_rows
        return rows[index] if index < len(rows) else None

    def where(self, file: str, line: int) -> str:
        entries = [n for n in self.starts.get(file, []) if n <= line]
        row = self.row_of(file, len(entries) - 1) if entries else None
        return f"row {row.number}" if row else f"{file}:{line}"

    def __call__(self, p: Problem) -> SheetProblem | None:
        message = _FIRST_AT.sub(lambda m: "first at " + self.where(m[1], int(m[2])), p.message)
        match = _INDEXED.match(p.field)
        if p.file.startswith("departments/") and match and match[1] == "items":
            sheet, columns, row = ITEMS, ITEM_COLUMNS, self.row_of(p.file, int(match[2]))
            rest = match[3]
        elif p.file == "bundles.yaml" and match:
            sheet, columns, row = BUNDLES, BUNDLE_COLUMNS, self.row_of(p.file, int(match[2]))
            rest = match[3]
            if row is None and BUNDLES not in self.sheets:  # a bundle kept from the database
                code = self.current.bundles[int(match[2])].code
                return SheetProblem(BUNDLES, 0, f"{code} {_header(columns, rest)}", message)
        elif p.file == f"departments/{UNPLACED}.yaml":
            return None  # the stand-in department itself
        elif p.file.startswith("departments/") and p.field.startswith("department"):
            sheet, columns = DEPARTMENTS, DEPARTMENT_COLUMNS
            row, rest = self.dept_rows.get(Path(p.file).stem), p.field.partition(".")[2]
        else:
            return SheetProblem(p.file, 0, p.field, message)
        header = _header(columns, rest)
        sub = re.search(r"^\w+\[\d+\]\.(\w+)$", rest)
        if sub:
            message = f"{sub[1]}: {message}"
        index = re.search(r"^\w+\[(\d+)\]", rest)
        if index and header not in ("申请材料", "常见问题"):
            message += f" (line {int(index[1]) + 1} of the cell)"
        elif index:
            message += f" (entry {int(index[1]) + 1} of the cell)"
        if row is not None and _TYPE.match(message):
            kind = next(c.kind for c in columns if c.header == header)
            if kind.words:
                message = f"expected {kind.words}, got {row.raw.get(header)!r}"
        return SheetProblem(sheet, row.number if row else 0, header, message)


def _header(columns: tuple[Column, ...], rest: str) -> str:
    path = re.sub(r"\[\d+\]", "", rest)
    best = max((c for c in columns if c.path and (path == c.path or path.startswith(c.path + "."))),
               key=lambda c: len(c.path), default=None)
    return best.header if best else "(行)"
