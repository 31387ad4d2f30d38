"""knowledge base tables (KB issue)

Revision ID: 0002_kb
Revises: 0001_core
"""

revision = "0002_kb"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the owning issue


def downgrade() -> None:
    pass
