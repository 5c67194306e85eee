"""`budget-arena demo`: the demo sweep (app.demo's plan) from the command line, with its progress
bar and then its leaderboard; running it again resumes it. The plan runs here on the fake model
(the bundled model's run is the browser test's, tests/app/test_browser.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from app import demo
from app.cli import EXIT_BAD_INPUT, EXIT_OK, app
from storage import open_store
from storage.sweeps import get_sweep


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False, env=env)


def test_the_demo_sweeps_its_plan_prints_the_leaderboard_and_resumes(db: str, monkeypatch) -> None:
    monkeypatch.setattr(demo, "DEMO_MODEL", "fake")
    result = invoke("demo", "--size", "2", "--db", db)
    assert result.exit_code == EXIT_OK, result.output
    plan = demo.demo_plan(2)
    info = get_sweep(plan.sweep_id, store=open_store(db))
    assert (info.status, info.done, info.total_cells, info.dataset) == ("done", 12, 12, "graded_arithmetic")
    assert info.plan["name"] == "demo" and [b["total_tokens"] for b in info.plan["budgets"]] == [200, 400]
    assert f"Leaderboard of sweep {plan.sweep_id}" in result.stdout
    for strategy in demo.DEMO_STRATEGIES:
        assert strategy in result.stdout
    assert f"budget-arena leaderboard --sweep {plan.sweep_id}" in result.stderr

    again = invoke("demo", "--size", "2", "--db", db)
    assert again.exit_code == EXIT_OK, again.output
    assert "resuming: 12 cells done before are skipped" in again.stderr
    assert get_sweep(plan.sweep_id, store=open_store(db)).done == 12


def test_the_demo_size_comes_from_the_environment_and_bad_values_are_refused(db: str) -> None:
    assert demo.demo_plan().size == demo.DEMO_SIZE == 20
    bad = invoke("demo", "--db", db, env={demo.SIZE_ENV: "lots"})
    assert bad.exit_code == EXIT_BAD_INPUT and "BUDGET_ARENA_DEMO_SIZE must be a whole number" in bad.stderr
    assert invoke("demo", "--size", "0", "--db", db).exit_code == EXIT_BAD_INPUT


def test_demo_help_says_what_it_runs() -> None:
    text = " ".join(invoke("demo", "--help").stdout.split())
    assert "graded_arithmetic" in text and "a few minutes" in text
