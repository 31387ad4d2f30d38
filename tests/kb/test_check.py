"""`hotline kb check`: the content lint over the source files (beyond the loader's schema validation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kb.check import SAMPLE_MARK, SPOKEN_MAX, check_dir
from kb.loader import default_data_dir
from tests.kb.sources import BUNDLES, CENTRE, DEPT, write_tree

MARK = f"# {SAMPLE_MARK}\n"


def _tree(tmp_path: Path, dept: str = DEPT, bundles: str = BUNDLES, centre: str = CENTRE) -> Path:
    return write_tree(tmp_path, dept=MARK + dept, bundles=MARK + bundles, centre=MARK + centre)


def _lines(tmp_path: Path, **kw: str) -> list[str]:
    root = _tree(tmp_path, **kw)
    return [str(p).replace(f"{root}/", "") for p in check_dir(root)]


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the nth line starting with ``needle`` (after the sample-mark line added by _tree)."""
    hits = [n for n, line in enumerate(text.splitlines(), 2) if line.strip().startswith(needle)]
    return hits[nth]


# The tiny tree lacks a legal basis on GA-006; with it, the tree is clean.
CLEAN = DEPT.replace("    online:\n      web: true\n      mobile: false\n",
                     "    basis: [《居住证暂行条例》]\n    online:\n      web: true\n      mobile: false\n")
CLEAN = CLEAN.replace("    location: A区 13-15号窗口\n", "    location: A区 13-15号窗口\n    basis: [《杭州市限制养犬规定》]\n")


def test_the_packaged_data_passes() -> None:
    assert [str(p) for p in check_dir(default_data_dir())] == []


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert _lines(tmp_path, dept=CLEAN) == []


def test_the_fourteen_elements_must_be_filled(tmp_path: Path) -> None:
    dept = (CLEAN.replace("    location: A区 1-4号窗口\n", "    location: \"\"\n")
            .replace("    process: [提交申领, 领证]\n", "    process: []\n")
            .replace("    basis: [《居住证暂行条例》]\n", "")
            .replace("      charged: false\n      standard: \"\"\n", "      charged: true\n      standard: \"\"\n", 1))
    problems = _lines(tmp_path, dept=dept)
    assert f"departments/gaj.yaml:{_line_of(dept, 'standard:')}: GA-001.fee.standard: 收费标准 is empty " \
           "although the item is charged" in problems
    assert any(p.endswith("GA-006.location: 办理地点 is empty") for p in problems)
    assert any(p.endswith("GA-006.process: 办理流程 is empty") for p in problems)
    # A missing key points at the item's first line.
    start = _line_of(dept, '- code: "GA-006"')
    assert f"departments/gaj.yaml:{start}: GA-006.basis: 设定依据 is empty" in problems
    assert len(problems) == 4


def test_numbers_tolerance_delivery_and_online_agree(tmp_path: Path) -> None:
    dept = (CLEAN.replace("    promised_days: 7\n", "    promised_days: 30\n")
            .replace("    delivery: [window]\n", "    delivery: [express_two_way]\n")
            .replace("      allowed: false\n      later_materials: []\n",
                     "      allowed: true\n      later_materials: []\n", 1)
            .replace("      mobile: false\n", "      mobile: false\n      full: true\n"))
    dept = dept.replace("      web: true\n      mobile: false\n      full: true\n",
                        "      web: false\n      mobile: false\n      full: true\n")
    problems = _lines(tmp_path, dept=dept)
    assert sorted(p.split(": ", 1)[1] for p in problems) == sorted([
        "GA-006.promised_days: 承诺时限 30 is longer than 法定时限 15",
        "GA-006.delivery: express_two_way goes with window or express_one_way (how the result comes back)",
        "GA-001.tolerance.later_materials: 容缺受理 is allowed but no material may follow later",
        "GA-006.online.full: 全程网办 needs online.web or online.mobile",
    ])


def test_aliases_must_say_something(tmp_path: Path) -> None:
    dept = CLEAN.replace("aliases: [狗证, 犬证]", "aliases: [狗证, 执照, 居住证申领]")
    bundles = BUNDLES.replace("aliases: [新市民一件事]", "aliases: [证]")
    problems = _lines(tmp_path, dept=dept, bundles=bundles)
    line = _line_of(dept, "aliases:")
    assert problems == [
        f"departments/gaj.yaml:{line}: GA-001.aliases: '执照' is a generic word shared by many items",
        f"departments/gaj.yaml:{line}: GA-001.aliases: '居住证申领' is the name of another item or bundle",
        f"bundles.yaml:{_line_of(BUNDLES, 'aliases:')}: YJS-001.aliases: '证' is a generic word shared by many items",
    ]


def test_texts_read_aloud_and_sample_marks(tmp_path: Path) -> None:
    long = "在本区居住满半年并且" * 5
    dept = CLEAN.replace("conditions: [在本区居住满半年]", f"conditions: [{long}]")
    root = _tree(tmp_path, dept=dept)
    (root / "bundles.yaml").write_text(BUNDLES, encoding="utf-8")  # unmarked
    problems = [str(p).replace(f"{root}/", "") for p in check_dir(root)]
    assert problems == [
        f"bundles.yaml:1: (file): first line must mark the file as sample data ({SAMPLE_MARK})",
        f"departments/gaj.yaml:{_line_of(dept, 'conditions:', 1)}: GA-006.conditions: {long[:12]}… is "
        f"{len(long)} characters, more than {SPOKEN_MAX} to read aloud",
    ]


def test_schema_problems_come_first_and_alone(tmp_path: Path) -> None:
    problems = _lines(tmp_path, dept=CLEAN.replace("target: 个人", "target: 外星人", 1))
    assert len(problems) == 1 and "items[0].target: '外星人' must be one of" in problems[0]


@pytest.mark.slow
def test_cli_exit_codes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_VAR_DIR"] = str(tmp_path / "var")
    clean = _tree(tmp_path / "clean", dept=CLEAN)
    dirty = _tree(tmp_path / "dirty", dept=CLEAN.replace("    promised_days: 7\n", "    promised_days: 30\n"))
    ok = subprocess.run([sys.executable, "-m", "cli", "kb", "check", str(clean)], capture_output=True, text=True,
                        env=env, timeout=120, check=False)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, "-m", "cli", "kb", "check", str(dirty)], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert bad.returncode == 1
    assert f"{dirty / 'departments' / 'gaj.yaml'}:" in bad.stdout and "GA-006.promised_days" in bad.stdout
