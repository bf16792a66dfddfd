"""Initial schema: API keys, models, molecules, predictions, screens, items and chunks.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64), nullable=False),
        sa.Column("level_names", sa.JSON(), nullable=False),
        sa.Column("target_levels", sa.JSON(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("key", name="uq_models_key"),
    )
    op.create_table(
        "molecules",
        sa.Column("id", BigId, nullable=False),
        sa.Column("inchikey", sa.String(27), nullable=False),
        sa.Column("canonical_smiles", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_molecules"),
        sa.UniqueConstraint("inchikey", name="uq_molecules_inchikey"),
    )
    op.create_table(
        "predictions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("molecule_id", BigId, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("rare_score", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.ForeignKeyConstraint(
            ["molecule_id"], ["molecules.id"], name="fk_predictions_molecule_id_molecules"
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_predictions_model_id_models"),
        sa.UniqueConstraint("molecule_id", "model_id", name="uq_predictions_molecule_id_model_id"),
    )
    op.create_index("ix_predictions_model_id", "predictions", ["model_id"])
    op.create_table(
        "screens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_screens"),
        sa.ForeignKeyConstraint(["owner_id"], ["api_keys.id"], name="fk_screens_owner_id_api_keys"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_screens_model_id_models"),
    )
    op.create_index("ix_screens_owner_id_created_at", "screens", ["owner_id", "created_at"])
    op.create_table(
        "screen_items",
        sa.Column("id", BigId, nullable=False),
        sa.Column("screen_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("input_smiles", sa.Text(), nullable=False),
        sa.Column("input_id", sa.Text(), nullable=True),
        sa.Column("molecule_id", BigId, nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("rare_score", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_screen_items"),
        sa.ForeignKeyConstraint(
            ["screen_id"], ["screens.id"], name="fk_screen_items_screen_id_screens",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["molecule_id"], ["molecules.id"], name="fk_screen_items_molecule_id_molecules"
        ),
        sa.UniqueConstraint("screen_id", "position", name="uq_screen_items_screen_id_position"),
    )
    op.create_index(
        "ix_screen_items_rank",
        "screen_items",
        ["screen_id", sa.text("rare_score DESC"), "position"],
    )
    op.create_table(
        "screen_chunks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("screen_id", sa.String(32), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("stop", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_screen_chunks"),
        sa.ForeignKeyConstraint(
            ["screen_id"], ["screens.id"], name="fk_screen_chunks_screen_id_screens",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_screen_chunks_screen_id_start", "screen_chunks", ["screen_id", "start"])
    op.create_index(
        "ix_screen_chunks_status_lease_expires_at", "screen_chunks", ["status", "lease_expires_at"]
    )


def downgrade() -> None:
    op.drop_table("screen_chunks")
    op.drop_table("screen_items")
    op.drop_table("screens")
    op.drop_table("predictions")
    op.drop_table("molecules")
    op.drop_table("models")
    op.drop_table("api_keys")
