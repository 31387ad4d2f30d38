"""admin panel indexes and tables (admin issue)

Revision ID: 0005_admin
Revises: 0004_calls_extra
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_admin"
down_revision = "0004_calls_extra"
branch_labels = None
depends_on = None

# Call-list keyset paging orders by (started_at, id); filtered lists walk the same order inside one value.
_CALL_INDEXES = {
    "ix_calls_started_id": ["started_at", "id"],
    "ix_calls_item_started": ["item_code", "started_at"],
    "ix_calls_department_started": ["department", "started_at"],
    "ix_calls_caller_started": ["caller_number", "started_at"],
}
# Agent console: the few waiting/ringing calls among 100,000s. Partial, because a plain index on a column that is
# NULL almost everywhere looks useless to SQLite's planner; the console query repeats this exact condition.
WAITING = "queue_state IN ('waiting', 'ringing')"


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for name, cols in _CALL_INDEXES.items():
            batch.create_index(name, cols, unique=False)
    with op.batch_alter_table("call_turns") as batch:
        batch.create_index("ix_call_turns_at", ["at"], unique=False)  # dashboard and quality queue by date
    op.create_index("ix_calls_waiting", "calls", ["queue_state"], unique=False,
                    sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))
    op.create_table(
        "quality_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"], ["call_turns.id"], name=op.f("fk_quality_reviews_turn_id_call_turns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_reviews")),
        sa.UniqueConstraint("turn_id", name=op.f("uq_quality_reviews_turn_id")),
    )
    op.create_table(
        "dashboard_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_dashboard_days")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_days")
    op.drop_table("quality_reviews")
    op.drop_index("ix_calls_waiting", table_name="calls")
    with op.batch_alter_table("call_turns") as batch:
        batch.drop_index("ix_call_turns_at")
    with op.batch_alter_table("calls") as batch:
        for name in _CALL_INDEXES:
            batch.drop_index(name)
