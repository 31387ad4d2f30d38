"""Fixtures for the call-flow tests: the real knowledge base (sample YAML) and booking store."""

from __future__ import annotations

import pytest

from kb.loader import default_data_dir, load_dir
from kb.qa import QAEngine


@pytest.fixture(scope="session")
def qa() -> QAEngine:
    """The real QA engine over the sample knowledge base shipped in kb/data."""
    return QAEngine.from_kb(load_dir(default_data_dir()))
