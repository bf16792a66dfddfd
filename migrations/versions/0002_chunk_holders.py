"""Chunk holders: which process holds a running chunk (id, host, pid, start time).

Leases are now short and renewed by a heartbeat matched on ``holder``; a process on the same
host releases the chunks of a holder whose pid is gone (see ``api.jobs``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("holder", "holder_host", "holder_pid", "holder_started_at")


def upgrade() -> None:
    with op.batch_alter_table("screen_chunks") as batch:
        batch.add_column(sa.Column("holder", sa.String(32), nullable=True))
        batch.add_column(sa.Column("holder_host", sa.String(300), nullable=True))
        batch.add_column(sa.Column("holder_pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("holder_started_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screen_chunks") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
