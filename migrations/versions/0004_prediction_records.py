"""The one prediction record (issue 15): input columns carried through, notes, ranks, nm.

- ``screens.input_columns``: the names of the uploaded file's own columns, in order (``NULL``:
  ``smiles``, ``id``, the columns of a JSON screen and every older screen); ``smiles_column``
  and ``id_column``: which of them the SMILES and ids were read from (``NULL``: ``smiles``,
  ``id``; an SDF's structures are its ``smiles`` column).
- ``screen_items.input_values``: the row's own values, as text, aligned with its screen's
  ``input_columns`` (``NULL``: ``[input_smiles, input_id]``).
- ``screen_items.notes``: what standardisation changed in the row (``; ``-separated).
- ``screen_items.rank``: the 1-based rank of the row among the screen's scored rows by rare
  score (ties in input order), set when the screen is done; filled here for done screens.
- ``predictions.emission_nm``: median, low and high of the emission maximum's central 80 %
  interval in nm, for a model with a wavelength head (``NULL`` otherwise);
  ``models.predicts_wavelength``: whether the model has one (``NULL`` for models registered
  before, set when the service registers one again).
- ``predictions.member_probabilities``: each member's level probabilities for an ensemble (its
  ``rare_score_std`` is their rare scores' spread); ``models.members``: how many it has.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ITEM_COLUMNS = ("input_values", "notes", "rank")

# the ranks of done screens, as api.store.rank_screen sets them (one statement per database)
RANK_DONE_SCREENS = """
UPDATE screen_items SET rank = ranked.rank
FROM (
    SELECT screen_items.id AS id,
           row_number() OVER (PARTITION BY screen_items.screen_id
                              ORDER BY screen_items.rare_score DESC, screen_items.position)
               AS rank
    FROM screen_items JOIN screens ON screens.id = screen_items.screen_id
    WHERE screens.status = 'done' AND screen_items.rare_score IS NOT NULL
) AS ranked
WHERE screen_items.id = ranked.id
"""


def _one_transaction() -> None:
    """On SQLite, open the migration's transaction now (the driver opens one only before data
    statements), so a later step that fails undoes this one too (as 0003 does)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and not bind.connection.dbapi_connection.in_transaction:
        bind.exec_driver_sql("BEGIN")  # committed with the migration by alembic


def upgrade() -> None:
    _one_transaction()
    with op.batch_alter_table("screens") as batch:
        batch.add_column(sa.Column("input_columns", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("smiles_column", sa.Text(), nullable=True))
        batch.add_column(sa.Column("id_column", sa.Text(), nullable=True))
    with op.batch_alter_table("screen_items") as batch:
        batch.add_column(sa.Column("input_values", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rank", sa.Integer(), nullable=True))
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("emission_nm", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("member_probabilities", sa.JSON(), nullable=True))
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("predicts_wavelength", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("members", sa.Integer(), nullable=True))
    op.execute(RANK_DONE_SCREENS)


def downgrade() -> None:
    _one_transaction()
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of predictions or
    # screen_items would drop tables that other tables' foreign keys point at
    op.drop_column("models", "members")
    op.drop_column("models", "predicts_wavelength")
    op.drop_column("predictions", "member_probabilities")
    op.drop_column("predictions", "emission_nm")
    for name in reversed(ITEM_COLUMNS):
        op.drop_column("screen_items", name)
    for name in ("id_column", "smiles_column", "input_columns"):
        op.drop_column("screens", name)
