"""One log line per event, tagged with the call UUID; human-readable by default, JSON with --log-json."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

call_uuid_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_uuid", default="-")


class _CallFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call"):
            record.call = call_uuid_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "call": getattr(record, "call", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CallFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(call)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # jieba prints its own banner at INFO.
    logging.getLogger("jieba").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
