"""KB item flags 全程网办 / 全城通办 / 上门服务 / 样表下载 and the bundle kind (商事 / 不动产 / 民生), issue 11

Revision ID: 0008_kb_service_flags
Revises: 0007_speech_labels
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_kb_service_flags"
down_revision = "0007_speech_labels"
branch_labels = None
depends_on = None

_ITEM_FLAGS = ("online_full", "citywide", "door_to_door", "sample_form")


def upgrade() -> None:
    # Server defaults fill the rows that exist already: nothing was flagged before these columns.
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        for name in _ITEM_FLAGS:
            batch_op.add_column(sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("kb_bundles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("kb_bundles", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        for name in reversed(_ITEM_FLAGS):
            batch_op.drop_column(name)
