"""Stored leaderboards (leaderboard_board): a computed board (ranking, intervals, rank ranges, curves
and the head-to-head drawn so far) kept per set of filters with a digest of the results it was
computed from, so a new session, or a server just started, reads it instead of bootstrapping a
million results again. Derived data: filled by the code that reads it (app.stored_boards).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_board",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("stored", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_board")
