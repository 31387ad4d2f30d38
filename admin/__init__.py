"""Flask admin panel and agent console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Any = None, *, engine: Any = None) -> Flask:
    """App factory (see admin.app); imported lazily so the `hotline` CLI does not load Flask for every command."""
    from admin.app import create_app as _create_app

    return _create_app(settings, engine=engine)
