"""The shared core every area stands on: settings (``config``), database engine and Alembic migrations
(``db``, ``migrations``), the SQLAlchemy models shared by the IVR and the panel (``models``), call outcomes,
logging, metrics, errors, readiness checks, panel users.

May import: nothing of ours (only the standard library and third parties). The `hotline` command itself lives in
cli/, above every area.
"""

__version__ = "0.1.0"
