"""The KB as a spreadsheet (办事指南 in Excel or CSV): one row per item under the usual Chinese column names.

Import everything from here (``from kb.sheets import ...``), never from the modules inside:
``cells`` (the cell syntax and the column tables), ``reading`` (a workbook or CSV -> a checked KnowledgeBase, or
every problem by sheet, row and column; the database import), ``problems`` (SheetProblem, SpreadsheetError and
tracing a loader problem back to its row) and ``writing`` (the KB -> xlsx / csv, in the syntax reading accepts,
so export -> import changes nothing). kb/data/README.md describes the sheets and the cell syntax.
"""

from __future__ import annotations

from pathlib import Path

from hotline.errors import HotlineError
from kb.sheets.cells import (
    BUNDLES,
    DEPARTMENTS,
    ITEMS,
    CellError,
    format_faq,
    format_material,
    parse_faq,
    parse_material,
)
from kb.sheets.problems import SheetProblem, SpreadsheetError
from kb.sheets.reading import import_spreadsheet, load_spreadsheet, read_spreadsheet
from kb.sheets.writing import rows, write_csv, write_spreadsheet, write_xlsx

FORMATS = ("xlsx", "csv")

__all__ = [
    "BUNDLES", "DEPARTMENTS", "FORMATS", "ITEMS", "CellError", "SheetProblem", "SpreadsheetError", "format_faq",
    "format_material", "format_of", "import_spreadsheet", "load_spreadsheet", "parse_faq", "parse_material",
    "read_spreadsheet", "rows", "write_csv", "write_spreadsheet", "write_xlsx",
]


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise HotlineError(f"{path}: a spreadsheet must end in .xlsx or .csv")
    return suffix
