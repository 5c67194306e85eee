"""Initial schema: run, run_strategy, event, curve_point.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "run",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created", When, nullable=False),
        sa.Column("finished", When, nullable=True),
        sa.Column("updated", When, nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_options", JSONType, nullable=False),
        sa.Column("budget", JSONType, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("item_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("price_date", sa.String(32), nullable=True),
        sa.Column("owner_host", sa.String(255), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_token", sa.String(100), nullable=True),
    )
    op.create_index("ix_run_created", "run", ["created"])
    op.create_index("ix_run_status", "run", ["status"])
    op.create_index("ix_run_model_created", "run", ["model", "created"])
    op.create_index("ix_run_dataset_item", "run", ["dataset", "item_id"])

    op.create_table(
        "run_strategy",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("strategy_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("knobs", JSONType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("stop_reason", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("price_date", sa.String(32), nullable=True),
        sa.Column("started", When, nullable=True),
        sa.Column("finished", When, nullable=True),
    )
    op.create_index("ix_run_strategy_strategy", "run_strategy", ["strategy"])

    op.create_table(
        "event",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("strategy_index", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("elapsed", sa.Float(), nullable=False),
        sa.Column("wall", sa.Float(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=True),
        sa.Column("usd", sa.Float(), nullable=True),
    )

    op.create_table(
        "curve_point",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("strategy_index", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=True),
    )
    op.create_index("ix_curve_point_strategy", "curve_point", ["run_id", "strategy_index", "seq"])


def downgrade() -> None:
    op.drop_table("curve_point")
    op.drop_table("event")
    op.drop_table("run_strategy")
    op.drop_table("run")
