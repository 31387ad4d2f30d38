"""appointment tables: rules, bookings, seats, calendar overrides, no-shows

Revision ID: 0003_bookings
Revises: 0002_kb
"""

import sqlalchemy as sa
from alembic import op

from hotline.models.base import UTCDateTime

revision = "0003_bookings"
down_revision = "0002_kb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=120), nullable=False),
        sa.Column("window", sa.String(length=120), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("weekend", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_booking_rules_capacity_nonnegative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_rules")),
        sa.UniqueConstraint("item_code", name=op.f("uq_booking_rules_item_code")),
    )
    op.create_index(op.f("ix_booking_rules_window"), "booking_rules", ["window"], unique=False)

    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=120), nullable=False),
        sa.Column("window", sa.String(length=120), nullable=False),
        sa.Column("slot_start", sa.DateTime(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_key", sa.String(length=160), nullable=True),
        sa.Column("call_uuid", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("marked_at", UTCDateTime(), nullable=True),
        sa.Column("marked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
        sa.UniqueConstraint("request_key", name=op.f("uq_bookings_request_key")),
    )
    op.create_index(op.f("ix_bookings_item_code"), "bookings", ["item_code"], unique=False)
    op.create_index(op.f("ix_bookings_slot_start"), "bookings", ["slot_start"], unique=False)
    op.create_index(op.f("ix_bookings_phone"), "bookings", ["phone"], unique=False)
    op.create_index(op.f("ix_bookings_status"), "bookings", ["status"], unique=False)
    op.create_index(
        "uq_bookings_phone_item_active", "bookings", ["phone", "item_code"], unique=True,
        sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"),
    )

    op.create_table(
        "booking_seats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("window", sa.String(length=120), nullable=False),
        sa.Column("slot_start", sa.DateTime(), nullable=False),
        sa.Column("seat_no", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("seat_no >= 1", name=op.f("ck_booking_seats_seat_no_positive")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_booking_seats_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_seats")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_booking_seats_booking_id")),
        sa.UniqueConstraint("window", "slot_start", "seat_no", name="uq_booking_seats_window_slot_seat"),
    )

    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=120), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_calendar_overrides")),
    )

    op.create_table(
        "booking_no_shows",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_booking_no_shows")),
    )


def downgrade() -> None:
    op.drop_table("booking_no_shows")
    op.drop_table("calendar_overrides")
    op.drop_table("booking_seats")
    op.drop_index("uq_bookings_phone_item_active", table_name="bookings")
    for column in ("status", "phone", "slot_start", "item_code"):
        op.drop_index(op.f(f"ix_bookings_{column}"), table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(op.f("ix_booking_rules_window"), table_name="booking_rules")
    op.drop_table("booking_rules")
