"""Sweeps: a sweep table (plan, status, cost estimate, dollar cap, owner), and run.sweep_key, the
cell a run records, unique within its sweep so a resumed sweep never records a cell twice.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sweep",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created", When, nullable=False),
        sa.Column("updated", When, nullable=True),
        sa.Column("finished", When, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", JSONType, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("total_cells", sa.Integer(), nullable=False),
        sa.Column("max_usd", sa.Float(), nullable=True),
        sa.Column("estimate_low_usd", sa.Float(), nullable=True),
        sa.Column("estimate_high_usd", sa.Float(), nullable=True),
        sa.Column("retired_usd", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner_host", sa.String(255), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_token", sa.String(100), nullable=True),
    )
    op.create_index("ix_sweep_created", "sweep", ["created"])
    # A unique index, not a table constraint: SQLite adds it without copying the run table (a copy
    # would drop and recreate `run`, and with foreign keys on that cascades into events).
    op.add_column("run", sa.Column("sweep_key", sa.String(64), nullable=True))
    op.create_index("uq_run_sweep_cell", "run", ["sweep_id", "sweep_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_run_sweep_cell", table_name="run")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("sweep_key")
    op.drop_index("ix_sweep_created", table_name="sweep")
    op.drop_table("sweep")
