"""`hotline ask` and `hotline kb ...` as real subprocesses against a real SQLite file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kb.sources import DEPT, write_tree

HOTLINE = [sys.executable, "-m", "cli"]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["HOTLINE_VAR_DIR"] = str(tmp_path / "var")
    return subprocess.run(HOTLINE + args, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.slow
def test_ask_json_falls_back_to_files_then_reads_the_database(tmp_path: Path, tiny_dir: Path) -> None:
    out = _run(["ask", "公鸡金怎么取出来", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "note: the database has no knowledge base" in out.stderr
    data = json.loads(out.stdout)  # exactly one JSON object
    assert set(data) == {"item_code", "item_name", "department", "aspect", "answer", "confidence", "abstained",
                         "alternatives"}
    assert data["item_code"] == "GJJ-001" and data["abstained"] is False
    assert 0 <= data["confidence"] <= 1
    assert all(set(a) == {"item_code", "item_name", "score"} for a in data["alternatives"])

    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    imported = _run(["kb", "import", str(tiny_dir)], tmp_path)
    assert imported.returncode == 0, imported.stderr
    out = _run(["ask", "那要多少钱", "--json", "--context-item", "GA-001"], tmp_path)
    assert out.returncode == 0 and "note:" not in out.stderr
    data = json.loads(out.stdout)
    assert (data["item_code"], data["aspect"]) == ("GA-001", "fee")  # from the DB's tiny KB

    oos = _run(["ask", "今天天气怎么样", "--json"], tmp_path)
    assert oos.returncode == 0 and json.loads(oos.stdout)["abstained"] is True


@pytest.mark.slow
def test_kb_validate_import_export_stats(tmp_path: Path, tiny_dir: Path) -> None:
    bad = write_tree(tmp_path / "bad", dept=DEPT.replace("    target: 个人\n", "    target: 个人\n    colour: red\n", 1))
    out = _run(["kb", "validate", str(bad)], tmp_path)
    assert out.returncode == 1
    assert f"{bad / 'departments' / 'gaj.yaml'}:" in out.stdout and "items[0].colour: unknown field" in out.stdout

    assert _run(["kb", "validate", str(tiny_dir)], tmp_path).returncode == 0
    no_tables = _run(["kb", "import", str(tiny_dir)], tmp_path)
    assert no_tables.returncode == 1 and "hotline db upgrade" in no_tables.stderr
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    failed = _run(["kb", "import", str(bad)], tmp_path)
    assert failed.returncode == 1 and "colour" in failed.stderr
    assert _run(["kb", "import", str(tiny_dir)], tmp_path).returncode == 0
    stats = _run(["kb", "stats"], tmp_path)
    assert "items: 2" in stats.stdout and "bundles: 1" in stats.stdout
    exported = _run(["kb", "export", str(tmp_path / "out")], tmp_path)
    assert exported.returncode == 0
    assert _run(["kb", "validate", str(tmp_path / "out")], tmp_path).returncode == 0
