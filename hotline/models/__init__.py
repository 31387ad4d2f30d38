"""SQLAlchemy 2.0 models shared by the IVR and the admin panel. One metadata; each area owns one module."""

from hotline.models import bookings as bookings  # noqa: E402,I001
from hotline.models import admin as admin  # noqa: E402,I001

# Area modules register their tables on import (KB, bookings).
from hotline.models import kb as kb  # noqa: E402,I001
from hotline.models import labels as labels  # noqa: E402,I001
from hotline.models.base import Base, utcnow
from hotline.models.calls import Call, CallbackTask, CallEvent, CallTurn
from hotline.models.labels import SpeechLabel
from hotline.models.users import AuditLog, Role, User

__all__ = [
    "AuditLog",
    "Base",
    "Call",
    "CallEvent",
    "CallTurn",
    "CallbackTask",
    "Role",
    "SpeechLabel",
    "User",
    "utcnow",
]
