"""The floors: which package may import which (README "Architecture"). Data flows one way; so do imports.

Every import in the product packages, at module level or inside a function, is checked against the table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the packages it may import besides itself (the standard library and third parties always)
ALLOWED: dict[str, set[str]] = {
    "hotline": set(),
    "kb": {"hotline"},
    "speech": {"hotline"},
    "booking": {"hotline"},
    "ivr": {"hotline", "kb", "speech", "booking"},
    "admin": {"hotline", "kb", "booking", "speech"},  # speech: labelling real caller audio, CER
    "cli": {"hotline", "kb", "speech", "booking", "ivr", "admin"},
}
OURS = set(ALLOWED) | {"scripts", "benchmarks", "tests"}


def imported_packages(source: str) -> set[str]:
    """Top-level names of our packages that ``source`` imports (anywhere in the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_the_checker_sees_imports_inside_functions():
    assert imported_packages("def f():\n    from ivr.flow import CallFlow\nimport kb.qa\n") == {"ivr", "kb"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_floors_below_it(package: str):
    wrong = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path.read_text(encoding="utf-8")) - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert wrong == {}, f"{package} may import only {sorted(ALLOWED[package])}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_says_what_lives_there_and_what_it_may_import(package: str):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    assert len(doc) > 40 and "import" in doc, f"{package}/__init__.py: say what lives there and what it may import"
