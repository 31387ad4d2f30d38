"""knowledge base tables: departments, items, materials, FAQ, aliases, bundles, centre facts, revision

Revision ID: 0002_kb
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_kb"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("short_name", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_kb_departments_code")),
    )
    op.create_table(
        "kb_bundles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("window", sa.String(length=120), nullable=False),
        sa.Column("item_codes", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_bundles")),
        sa.UniqueConstraint("code", name=op.f("uq_kb_bundles_code")),
    )
    op.create_table(
        "kb_centre_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_centre_facts")),
        sa.UniqueConstraint("key", name=op.f("uq_kb_centre_facts_key")),
    )
    op.create_table(
        "kb_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_revision")),
    )
    op.create_table(
        "kb_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("process", sa.JSON(), nullable=False),
        sa.Column("legal_days", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("fee_charged", sa.Boolean(), nullable=False),
        sa.Column("fee_standard", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=120), nullable=False),
        sa.Column("hours", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("online_web", sa.Boolean(), nullable=False),
        sa.Column("online_mobile", sa.Boolean(), nullable=False),
        sa.Column("online_note", sa.Text(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("tolerance_allowed", sa.Boolean(), nullable=False),
        sa.Column("tolerance_later", sa.JSON(), nullable=False),
        sa.Column("weekend", sa.Boolean(), nullable=False),
        sa.Column("bookable", sa.Boolean(), nullable=False),
        sa.Column("self_service", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"], ["kb_departments.id"],
            name=op.f("fk_kb_items_department_id_kb_departments"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_items")),
        sa.UniqueConstraint("code", name=op.f("uq_kb_items_code")),
    )
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_items_department_id"), ["department_id"], unique=False)

    op.create_table(
        "kb_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["kb_items.id"], name=op.f("fk_kb_aliases_item_id_kb_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_aliases")),
        sa.UniqueConstraint("item_id", "text", name="uq_kb_aliases_item_text"),
    )
    with op.batch_alter_table("kb_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_aliases_item_id"), ["item_id"], unique=False)

    op.create_table(
        "kb_faqs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["kb_items.id"], name=op.f("fk_kb_faqs_item_id_kb_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_faqs")),
    )
    with op.batch_alter_table("kb_faqs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_faqs_item_id"), ["item_id"], unique=False)

    op.create_table(
        "kb_materials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("form", sa.String(length=16), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["kb_items.id"], name=op.f("fk_kb_materials_item_id_kb_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_materials")),
    )
    with op.batch_alter_table("kb_materials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_materials_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    for table in ("kb_materials", "kb_faqs", "kb_aliases"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_item_id"))
        op.drop_table(table)
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_items_department_id"))
    op.drop_table("kb_items")
    for table in ("kb_revision", "kb_centre_facts", "kb_bundles", "kb_departments"):
        op.drop_table(table)
