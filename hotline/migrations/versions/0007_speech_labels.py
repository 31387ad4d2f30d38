"""labelled caller utterances for the real-voice speech evaluation (issue 16)

Revision ID: 0007_speech_labels
Revises: 0005_admin (0006 comes from another branch; the chain is put in order when they merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_speech_labels"
down_revision = "0005_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "speech_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=True),
        sa.Column("audio_path", sa.String(length=255), nullable=False),
        sa.Column("audio_sha256", sa.String(length=64), nullable=False),
        sa.Column("spoken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heard_text", sa.Text(), nullable=False),
        sa.Column("heard_item", sa.String(length=32), nullable=True),
        sa.Column("asr_confidence", sa.Double(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=True),
        sa.Column("aspect", sa.String(length=16), nullable=True),
        sa.Column("out_of_scope", sa.Boolean(), nullable=False),
        sa.Column("labelled_by", sa.String(length=64), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["turn_id"], ["call_turns.id"], name=op.f("fk_speech_labels_turn_id_call_turns"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speech_labels")),
        sa.UniqueConstraint("turn_id", name=op.f("uq_speech_labels_turn_id")),
        sa.UniqueConstraint("audio_sha256", name=op.f("uq_speech_labels_audio_sha256")),
    )
    op.create_index("ix_speech_labels_spoken_at", "speech_labels", ["spoken_at"], unique=False)
    op.create_index("ix_speech_labels_labelled_at", "speech_labels", ["labelled_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_speech_labels_labelled_at", table_name="speech_labels")
    op.drop_index("ix_speech_labels_spoken_at", table_name="speech_labels")
    op.drop_table("speech_labels")
