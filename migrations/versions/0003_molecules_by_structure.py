"""Molecules by model input, per-key ownership of predictions, per-screen target levels.

- ``molecules`` becomes unique by ``canonical_smiles`` (the canonical SMILES of the
  standardised structure: what the model reads) instead of by InChIKey, which merges tautomers
  and charge/resonance forms the model sees as different graphs; ``inchikey`` stays as an
  indexed, non-unique column for ``GET /v1/molecules/{inchikey}``. Existing rows keep their
  ids (each was unique by InChIKey, so also by canonical SMILES).
- ``owner_predictions (api_key_id, prediction_id, first_seen)``: which key has obtained which
  prediction. Filled here from existing screens (each screen's owner gets the predictions of its
  items); predictions obtained only through ``/v1/predictions`` before this revision have no
  known owner and are visible to nobody (they stay in the store).
- ``screens.target_levels``: the level names a screen's rare scores add up; existing screens
  get their model's levels.

SQLite cannot drop a table-level UNIQUE constraint, so ``molecules`` is made again: its rows
wait in a temporary table, the table is dropped and created anew, and the rows go back. Other
tables reference ``molecules``; with ``PRAGMA defer_foreign_keys`` the references the drop
leaves dangling are counted and the re-inserted rows settle them before the transaction
commits (the same transaction: it is opened here when the driver has not opened one yet).

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOLD = "_molecules_0003"


def _molecules_table(unique_column: str) -> None:
    op.create_table(
        "molecules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("inchikey", sa.String(27), nullable=False),
        sa.Column("canonical_smiles", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_molecules"),
        sa.UniqueConstraint(unique_column, name=f"uq_molecules_{unique_column}"),
    )


def _sqlite_remake_molecules(unique_column: str) -> None:
    """Drop and create ``molecules`` again with a UNIQUE ``unique_column``, rows and ids kept."""
    bind = op.get_bind()
    if not bind.connection.dbapi_connection.in_transaction:
        bind.exec_driver_sql("BEGIN")  # committed with the migration by alembic
    bind.exec_driver_sql("PRAGMA defer_foreign_keys=ON")  # off again at commit
    bind.exec_driver_sql(f"CREATE TEMP TABLE {HOLD} AS SELECT * FROM molecules")
    op.drop_table("molecules")  # and its indexes
    _molecules_table(unique_column)
    bind.exec_driver_sql(
        f"INSERT INTO molecules (id, inchikey, canonical_smiles, created_at) "
        f"SELECT id, inchikey, canonical_smiles, created_at FROM {HOLD}"
    )
    bind.exec_driver_sql(f"DROP TABLE {HOLD}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_remake_molecules("canonical_smiles")
    else:
        op.drop_constraint("uq_molecules_inchikey", "molecules", type_="unique")
        op.create_unique_constraint("uq_molecules_canonical_smiles", "molecules",
                                    ["canonical_smiles"])
    op.create_index("ix_molecules_inchikey", "molecules", ["inchikey"])

    op.create_table(
        "owner_predictions",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", BigId, nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "prediction_id", name="pk_owner_predictions"),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name="fk_owner_predictions_api_key_id_api_keys"),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"],
                                name="fk_owner_predictions_prediction_id_predictions"),
    )
    op.execute(
        "INSERT INTO owner_predictions (api_key_id, prediction_id, first_seen) "
        "SELECT screens.owner_id, predictions.id, MIN(screens.created_at) "
        "FROM screen_items "
        "JOIN screens ON screens.id = screen_items.screen_id "
        "JOIN predictions ON predictions.molecule_id = screen_items.molecule_id "
        "AND predictions.model_id = screens.model_id "
        "GROUP BY screens.owner_id, predictions.id"
    )

    op.add_column("screens", sa.Column("target_levels", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE screens SET target_levels = "
        "(SELECT models.target_levels FROM models WHERE models.id = screens.model_id)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.exec_driver_sql(
        "SELECT inchikey FROM molecules GROUP BY inchikey HAVING COUNT(*) > 1 LIMIT 1"
    ).first()
    if shared is not None:
        raise RuntimeError(
            f"cannot downgrade below revision 0003: several stored structures share the InChIKey "
            f"{shared[0]} (revision 0002 keeps one molecule per InChIKey); downgrade to base "
            "instead, or delete the extra structures and their predictions first"
        )
    op.drop_column("screens", "target_levels")
    op.drop_table("owner_predictions")
    if bind.dialect.name == "sqlite":
        _sqlite_remake_molecules("inchikey")
    else:
        op.drop_index("ix_molecules_inchikey", "molecules")
        op.drop_constraint("uq_molecules_canonical_smiles", "molecules", type_="unique")
        op.create_unique_constraint("uq_molecules_inchikey", "molecules", ["inchikey"])
