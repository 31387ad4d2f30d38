"""extra call columns (calls issue)

Revision ID: 0004_calls_extra
Revises: 0003_bookings
"""

revision = "0004_calls_extra"
down_revision = "0003_bookings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the owning issue


def downgrade() -> None:
    pass
