"""A run may belong to a sweep (dataset x strategies x budgets): run.sweep_id, indexed so a
sweep's runs are found without scanning the run table.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(64), nullable=True))
    op.create_index("ix_run_sweep", "run", ["sweep_id"])


def downgrade() -> None:
    op.drop_index("ix_run_sweep", table_name="run")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("sweep_id")
