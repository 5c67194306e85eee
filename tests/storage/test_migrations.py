"""Schema migrations: an empty database and one at the previous revision both reach head, the
migrations build exactly the tables the code declares, and downgrade/upgrade round-trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from storage import forget_store, get_run, new_run_id, open_store
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.store import Store
from storage.tables import Base
from tests.storage.test_storage import BACKENDS, postgres_cluster  # noqa: F401  (the fixture, shared)

PREVIOUS = "0001"


@pytest.fixture(params=BACKENDS)
def bare_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A Store on an empty database, not yet migrated (Store() does not upgrade; open_store does)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bare.db'}"
    else:
        url = request.getfixturevalue("postgres_cluster").create_database()
    store = Store(url)
    yield store
    store.close()


def drift(store: Store) -> list:
    with store.read() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def index_names(store: Store, table: str) -> set[str]:
    return {ix["name"] for ix in inspect(store.engine).get_indexes(table)}


def test_head_is_the_stored_boards_revision():
    assert head_revision() == "0006"


def test_an_empty_database_upgrades_to_head_matching_the_tables(bare_store):
    assert current_revision(bare_store) is None
    upgrade(bare_store)
    assert current_revision(bare_store) == head_revision()
    assert drift(bare_store) == []
    assert "ix_run_sweep" in index_names(bare_store, "run")
    upgrade(bare_store)  # at head already: nothing to do
    assert current_revision(bare_store) == head_revision()


def test_a_database_at_the_previous_revision_upgrades_keeping_its_runs(bare_store):
    upgrade(bare_store, PREVIOUS)
    assert current_revision(bare_store) == PREVIOUS
    columns = {c["name"] for c in inspect(bare_store.engine).get_columns("run")}
    assert "sweep_id" not in columns
    run_id = new_run_id()
    with bare_store.write() as conn:  # a run as revision 0001 stored it
        conn.execute(
            text("INSERT INTO run (id, created, problem, model, model_options, budget, status) "
                 "VALUES (:id, :created, 'old problem', 'fake:old', '{}', '{\"total_tokens\": 100}', 'done')"),
            {"id": run_id, "created": datetime.now(UTC)},
        )

    # Opening the store is what upgrades it in the app.
    store = open_store(bare_store.url)
    try:
        assert current_revision(store) == head_revision()
        assert drift(store) == []
        info = get_run(run_id, store=store)
        assert info is not None and info.problem == "old problem" and info.sweep_id is None
        assert info.budget == {"total_tokens": 100}
    finally:
        forget_store(store)


def test_downgrade_then_upgrade_round_trips(bare_store):
    upgrade(bare_store)
    downgrade(bare_store, PREVIOUS)
    assert current_revision(bare_store) == PREVIOUS
    assert "ix_run_sweep" not in index_names(bare_store, "run")
    upgrade(bare_store)
    assert current_revision(bare_store) == head_revision()
    assert drift(bare_store) == []
    downgrade(bare_store, "base")
    assert set(inspect(bare_store.engine).get_table_names()) <= {"alembic_version"}
