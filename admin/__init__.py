"""Flask admin panel and agent console: the app factory (``admin.app``), one blueprint per page group
(``admin.views``), the logic behind them (``admin.services``), templates and static files (no CDN).

May import: hotline (settings, models), kb (the knowledge base it edits and asks), booking (appointments),
speech (labelling real caller audio and its error rates).
Never ivr: the panel sees calls through the database rows the IVR writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Any = None, *, engine: Any = None) -> Flask:
    """App factory (see admin.app); imported lazily so the `hotline` CLI does not load Flask for every command."""
    from admin.app import create_app as _create_app

    return _create_app(settings, engine=engine)
