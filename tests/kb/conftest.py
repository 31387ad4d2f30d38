"""KB test helpers: a tiny source tree written into tmp_path, and the packaged KB loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.loader import default_data_dir, load_dir
from kb.qa import QAEngine
from kb.schema import KnowledgeBase
from tests.kb.sources import write_tree


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "src")


@pytest.fixture(scope="session")
def real_kb() -> KnowledgeBase:
    return load_dir(default_data_dir())


@pytest.fixture(scope="session")
def engine(real_kb: KnowledgeBase) -> QAEngine:
    return QAEngine.learned(real_kb)  # the engine callers get: learned choice, meaning model
