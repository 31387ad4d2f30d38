"""appointment tables (appointments issue)

Revision ID: 0003_bookings
Revises: 0002_kb
"""

revision = "0003_bookings"
down_revision = "0002_kb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the owning issue


def downgrade() -> None:
    pass
