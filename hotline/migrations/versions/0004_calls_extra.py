"""extra call columns: item name, dialplan route, context summary for the agent console

Revision ID: 0004_calls_extra
Revises: 0003_bookings
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_calls_extra"
down_revision = "0003_bookings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_name", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("route", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("context_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("context_summary")
        batch_op.drop_column("route")
        batch_op.drop_column("item_name")
