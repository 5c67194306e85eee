"""Entries and trust: a strategy of a run is an *entry* with its own budget
(run_strategy.budget; NULL in older rows means the run's budget), a result records whether the
provider reported impossible usage (over_cap) and what produced it (app_version, fingerprint of
the strategy's prompts and knobs), and a run can be asked to stop from any process
(run.cancel_requested, polled by the runner that owns it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # add_column without a table copy on SQLite (a copy of `run` would cascade into its events).
    op.add_column("run_strategy", sa.Column("budget", JSONType, nullable=True))
    op.add_column("run_strategy", sa.Column("over_cap", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("run_strategy", sa.Column("app_version", sa.String(32), nullable=True))
    op.add_column("run_strategy", sa.Column("fingerprint", sa.String(64), nullable=True))
    op.add_column("run", sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("cancel_requested")
    with op.batch_alter_table("run_strategy") as batch:
        for column in ("fingerprint", "app_version", "over_cap", "budget"):
            batch.drop_column(column)
