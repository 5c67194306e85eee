"""Summaries for reading at scale: a finished run's fold (run_fold, run_fold_entry), so a share
link reads one row per entry instead of every event; the leaderboard's summary of the ended
results (result_group, result_item, result_summary_state), so a leaderboard reads a few hundred
packed rows instead of every result; and an index on run_strategy (status, finished) for the
leaderboard's version check and top-up. The summaries are filled by the code that reads them
(storage.run_fold_store, storage.result_summary): an upgraded store starts with none.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_run_strategy_ended", "run_strategy", ["status", "finished"])
    op.create_table(
        "run_fold",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("stored", TIME, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_table(
        "run_fold_entry",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run_fold.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("strategy_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_table(
        "result_group",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("knobs", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("over_cap", sa.Boolean(), nullable=False),
        sa.Column("sweep_id", sa.String(64), nullable=True),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("budget_total_tokens", sa.Float(), nullable=True),
        sa.Column("budget_output_tokens", sa.Float(), nullable=True),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("budget_seconds", sa.Float(), nullable=True),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("created_min", TIME, nullable=False),
        sa.Column("created_max", TIME, nullable=False),
        sa.Column("rows", sa.LargeBinary(), nullable=False),
        sa.Column("costs", sa.LargeBinary(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=False),
    )
    op.create_table(
        "result_item",
        sa.Column("code", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("key", sa.Text(), nullable=False, unique=True),
    )
    op.create_table(
        "result_summary_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("newest", TIME, nullable=True),
        sa.Column("updated", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("result_summary_state", "result_item", "result_group", "run_fold_entry", "run_fold"):
        op.drop_table(table)
    op.drop_index("ix_run_strategy_ended", table_name="run_strategy")
