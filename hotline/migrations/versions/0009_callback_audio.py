"""Callback tasks carry the caller's voicemail (relative to the recording dir) apart from the agent's note

Revision ID: 0009_callback_audio
Revises: 0008_kb_service_flags
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0009_callback_audio"
down_revision = "0008_kb_service_flags"
branch_labels = None
depends_on = None

# Before 0009 call-voicemail put Asterisk's absolute path (no extension) into the note: move it where it belongs.
_OLD_NOTE = re.compile(r"/(?:[^\n]*/)?(voicemail-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\.wav)?")


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_path", sa.String(length=255), nullable=True))
    tasks = sa.table("callback_tasks", sa.column("id", sa.Integer), sa.column("note", sa.Text),
                     sa.column("audio_path", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(tasks.c.id, tasks.c.note).where(tasks.c.note.like("%/voicemail-%"))).all()
    for task_id, note in rows:
        match = _OLD_NOTE.fullmatch(note.strip())
        if match:
            conn.execute(tasks.update().where(tasks.c.id == task_id)
                         .values(audio_path=match.group(1) + ".wav", note=None))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks", schema=None) as batch_op:
        batch_op.drop_column("audio_path")
