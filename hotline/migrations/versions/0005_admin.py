"""admin panel indexes and tables (admin issue)

Revision ID: 0005_admin
Revises: 0004_calls_extra
"""

revision = "0005_admin"
down_revision = "0004_calls_extra"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the owning issue


def downgrade() -> None:
    pass
