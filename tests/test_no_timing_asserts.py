"""The suite asserts behaviour, never elapsed time: a busy CI machine must not fail a good change.

Speed lives in benchmarks/. This scans every test for an ``assert`` that reads a clock (directly, or through a
local variable assigned from one) and names each offender.
"""

from __future__ import annotations

import ast
from pathlib import Path

CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns", "time_ns", "process_time"}
TESTS = Path(__file__).parent


def _is_deadline_guard(test: ast.expr) -> bool:
    """``assert time.monotonic() < deadline``: a wait that gives up (server never got ready), not a speed claim."""
    return isinstance(test, ast.Compare) and any(isinstance(n, ast.Name) and "deadline" in n.id
                                                 for n in (test.left, *test.comparators))


def _reads_clock(node: ast.AST, tainted: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in CLOCKS \
                and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "time":
            return True
        if isinstance(sub, ast.Name) and sub.id in tainted:
            return True
    return False


def _calls_other_than_clock(node: ast.AST) -> bool:
    return any(isinstance(c, ast.Call) and not (isinstance(c.func, ast.Attribute) and c.func.attr in CLOCKS)
               for c in ast.walk(node))


def clock_asserts(source: str) -> list[int]:
    """Line numbers of asserts that depend on a clock reading."""
    tree = ast.parse(source)
    found: list[int] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        tainted: set[str] = set()
        for node in ast.walk(func):
            # A name holds elapsed time when it is clock arithmetic (t1 - t0), not any value computed from a time.
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp | ast.Call | ast.Name) \
                    and _reads_clock(node.value, tainted) and not _calls_other_than_clock(node.value):
                tainted |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        found += [n.lineno for n in ast.walk(func) if isinstance(n, ast.Assert) and _reads_clock(n.test, tainted)
                  and not _is_deadline_guard(n.test)]
    return sorted(set(found))


def test_the_scanner_finds_a_clock_in_an_assert():
    assert clock_asserts("import time\ndef f():\n    t0 = time.monotonic()\n    g()\n"
                         "    assert time.monotonic() - t0 < 0.1\n") == [5]
    assert clock_asserts("import time\ndef f():\n    t0 = time.perf_counter()\n    took = time.perf_counter() - t0\n"
                         "    assert took < 2\n") == [5]
    assert clock_asserts("def f():\n    assert len(x) == 3\n") == []


def test_no_test_asserts_on_elapsed_time():
    offenders = [f"{path.relative_to(TESTS)}:{line}" for path in sorted(TESTS.rglob("*.py"))
                 if path.name != Path(__file__).name for line in clock_asserts(path.read_text(encoding="utf-8"))]
    assert offenders == [], "timing belongs in benchmarks/: " + ", ".join(offenders)
