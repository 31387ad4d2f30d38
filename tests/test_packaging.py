"""What a wheel carries: every file a package reads at run time that is not Python must be in its package-data."""

from __future__ import annotations

import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
    "package-data"]
# Tracked files beside the code that are not read at run time (documentation for people, not for the package).
NOT_SHIPPED = ("README.md", "*/README.md")


@pytest.mark.parametrize("package", ["kb", "speech", "hotline", "admin"])
def test_every_data_file_the_package_holds_is_in_its_package_data(package: str) -> None:
    tracked = subprocess.run(["git", "ls-files", package], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    patterns = PACKAGE_DATA.get(package, [])
    missing = []
    for name in tracked:
        rel = Path(name).relative_to(package).as_posix()
        if rel.endswith(".py") or any(fnmatch(rel, p) for p in NOT_SHIPPED):
            continue
        if not any(fnmatch(rel, p) for p in patterns):
            missing.append(rel)
    assert not missing, f"add to [tool.setuptools.package-data] {package}: {missing}"
