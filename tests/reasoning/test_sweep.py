"""Sweeps: plans and cell keys, a 270-result sweep on the fake model, resuming after SIGKILL and
after a cancel without duplicates, the hard dollar cap, and 429s retried with backoff."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from reasoning.budget import Budget
from reasoning.cost_estimate import worst_case_usd
from reasoning.datasets import Dataset, Item, load_dataset
from reasoning.model_protocol import ModelError
from reasoning.models.fake import FakeModel
from reasoning.prices import FREE, ModelPrice
from reasoning.provider_pacing import ProviderLimiter, RateLimit, RateLimitedModel, retry_after
from reasoning.sweep import estimate_cost
from reasoning.sweep_plan import StrategyChoice, SweepPlan, SweepPlanError, parse_budget_grid, plan_cells
from storage import RunSpec, forget_store, get_runner, open_store, strategy_results
from storage.sweeps import SweepBusy, get_sweep, list_sweeps, prepare_sweep, start_sweep
from storage.tables import Run
from tests.support import ROOT

STRATEGIES = tuple(StrategyChoice(name) for name in ("direct", "chain_of_thought", "self_consistency"))
BUDGETS = (Budget(total_tokens=200), Budget(total_tokens=400), Budget(total_tokens=800))


def solve_arithmetic(messages, index: int) -> str:
    """A fake model that does basic_arithmetic right: 'Calculate <expr>.' -> 'Answer: <value>'."""
    text = " ".join(m["content"] for m in messages)
    match = re.search(r"Calculate ([-+*/() 0-9]+)\.", text)
    if not match:
        return "Answer: 0"
    value = eval(match.group(1), {"__builtins__": {}})  # digits and operators only (the regex)
    return f"Let me work it out. Answer: {int(value) if float(value).is_integer() else value}"


def arithmetic_plan(size: int = 30, **changes) -> SweepPlan:
    fields = {"dataset": "basic_arithmetic", "size": size, "strategies": STRATEGIES, "budgets": BUDGETS,
              "model": "fake", **changes}
    return SweepPlan(**fields)


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'sweep.db'}")
    yield store
    get_runner(store).close()
    forget_store(store)


@pytest.fixture(scope="module")
def arithmetic() -> Dataset:
    return load_dataset("basic_arithmetic", size=30)


def sweep_runs(store, sweep_id: str) -> list:
    with store.read() as conn:
        return conn.execute(select(Run.id, Run.sweep_key, Run.status, Run.item_id).where(Run.sweep_id == sweep_id)).all()


def assert_complete_without_duplicates(store, plan: SweepPlan, cells: int) -> None:
    runs = sweep_runs(store, plan.sweep_id)
    assert len(runs) == cells
    assert len({r.sweep_key for r in runs}) == cells
    assert {r.status for r in runs} == {"done"}
    results = strategy_results(sweep_id=plan.sweep_id, store=store)
    assert len(results) == cells
    combos = results[["item_id", "strategy"]].assign(budget=results["budget_total_tokens"])
    assert not combos.duplicated().any()


# ---- plans, keys and cost ----------------------------------------------------------------------


def test_sweep_id_is_the_plans_identity():
    plan = arithmetic_plan()
    assert plan.sweep_id == arithmetic_plan(name="a label only").sweep_id
    assert plan.sweep_id != arithmetic_plan(nonce="fresh").sweep_id
    assert plan.sweep_id != arithmetic_plan(budgets=BUDGETS[:2]).sweep_id
    assert plan.sweep_id != arithmetic_plan(strategies=(StrategyChoice("direct", {"max_tokens": 64}),)).sweep_id
    assert SweepPlan.from_dict(plan.as_dict()) == plan


def test_cells_are_the_whole_grid_item_by_item_with_stable_unique_keys(arithmetic):
    plan = arithmetic_plan(repeats=2)
    cells = plan_cells(plan, arithmetic)
    assert len(cells) == 30 * 3 * 3 * 2
    assert len({c.key for c in cells}) == len(cells)
    assert [c.key for c in plan_cells(plan, arithmetic)] == [c.key for c in cells]
    assert {c.item.id for c in cells[:9]} == {arithmetic[0].id}  # a problem's 9 cells come together
    # An edited problem is a new cell even under the same item id.
    edited = Dataset("basic_arithmetic", [Item(arithmetic[0].id, "Calculate 1 + 1.", "2", "basic_arithmetic")])
    assert plan_cells(plan, edited)[0].key != cells[0].key


@pytest.mark.parametrize(("changes", "message"), [
    ({"strategies": ()}, "at least one strategy"),
    ({"budgets": ()}, "at least one budget"),
    ({"budgets": (Budget(total_tokens=5), Budget(total_tokens=5))}, "twice"),
    ({"strategies": (StrategyChoice("no_such"),)}, "unknown strategy"),
    ({"strategies": (StrategyChoice("direct", {"bogus": 1}),)}, "unknown knob"),
    ({"repeats": 0}, "repeats"),
])
def test_bad_plans_are_refused(changes, message):
    with pytest.raises(SweepPlanError, match=message):
        arithmetic_plan(**changes).validate()


def test_budget_grids_parse_from_text():
    assert parse_budget_grid(["256,1024"]) == (Budget(total_tokens=256), Budget(total_tokens=1024))
    assert parse_budget_grid(["0.01"], cap="usd") == (Budget(usd=0.01),)
    assert parse_budget_grid(["total_tokens=500;seconds=30"]) == (Budget(total_tokens=500, seconds=30),)
    for bad in ("-5", "abc", "total_tokens=1.5", "nope=3"):
        with pytest.raises(SweepPlanError, match="bad budget"):
            parse_budget_grid([bad])


def test_cost_estimate_brackets_the_sweep(arithmetic):
    price = ModelPrice(2.0, 10.0)
    assert worst_case_usd(Budget(total_tokens=1000), price) == pytest.approx(1000 * 10.0 / 1e6)
    assert worst_case_usd(Budget(total_tokens=1000, usd=0.001), price) == pytest.approx(0.001)
    assert worst_case_usd(Budget(seconds=5), price) == float("inf")
    assert worst_case_usd(Budget(seconds=5), FREE) == 0.0
    cells = plan_cells(arithmetic_plan(), arithmetic)
    estimate = estimate_cost(cells, price, "openai:gpt-4o-mini")
    assert estimate.total == pytest.approx(30 * 3 * (200 + 400 + 800) * 10.0 / 1e6)
    assert 0 < estimate.low_usd < estimate.total
    assert "at most $" in estimate.text


# ---- running -----------------------------------------------------------------------------------


def test_a_sweep_writes_one_result_per_cell_judged_by_the_datasets_checker(store, arithmetic):
    plan = arithmetic_plan()
    snapshots = []
    prepared = prepare_sweep(plan, store=store, model=FakeModel(replies=solve_arithmetic), dataset=arithmetic,
                             concurrency=8, on_progress=snapshots.append)
    progress = prepared.execute().result()  # on the runner's loop, as the CLI and the app run it

    assert (progress.status, progress.done, progress.failed, progress.skipped) == ("done", 270, 0, 0)
    assert_complete_without_duplicates(store, plan, 270)
    results = strategy_results(sweep_id=plan.sweep_id, store=store)
    assert results["correct"].all()  # the fake solves every problem
    assert set(results["dataset"]) == {"basic_arithmetic"}
    assert max(s.running for s in snapshots) <= 8
    assert [s.completed for s in snapshots] == sorted(s.completed for s in snapshots)

    info = get_sweep(plan.sweep_id, store=store)
    assert (info.status, info.done, info.total_cells) == ("done", 270, 270)
    assert list_sweeps(store=store)["id"].tolist() == [plan.sweep_id]

    # A dataset whose checker rejects everything: the stored verdicts are the checker's.
    strict = Dataset("basic_arithmetic", arithmetic.items[:2], checker=lambda item, answer: False)
    prepared = prepare_sweep(arithmetic_plan(nonce="strict"), store=store, dataset=strict,
                             model=FakeModel(replies=solve_arithmetic))
    prepared.execute().result()
    assert not strategy_results(sweep_id=prepared.sweep_id, store=store)["correct"].any()


def test_running_a_finished_sweep_again_does_nothing(store, arithmetic):
    # Driven from a loop of its own (asyncio.run): cells go through the runner's thread-safe start.
    plan = arithmetic_plan(size=4)
    small = Dataset("basic_arithmetic", arithmetic.items[:4])
    asyncio.run(prepare_sweep(plan, store=store, dataset=small, model=FakeModel()).sweep.run())
    model = FakeModel()
    again = asyncio.run(prepare_sweep(plan, store=store, dataset=small, model=model).sweep.run())
    assert (again.status, again.skipped, again.done) == ("done", 36, 0)
    assert model.calls == []
    assert_complete_without_duplicates(store, plan, 36)


def test_the_store_refuses_a_second_run_of_one_cell(store):
    runner = get_runner(store)
    spec = RunSpec("Calculate 1 + 1.", FakeModel(), ["direct"], Budget(total_tokens=100), sweep_id="sw-x",
                   sweep_key="k1")
    runner.wait(runner.submit(spec))
    with pytest.raises(sa_exc.IntegrityError):
        runner.submit(spec)


KILL_CHILD = textwrap.dedent("""
    import asyncio, sys
    from reasoning.budget import Budget
    from reasoning.sweep_plan import StrategyChoice, SweepPlan
    from storage.store import open_store
    from storage.sweeps import prepare_sweep

    plan = SweepPlan.from_dict(__import__("json").loads(sys.argv[2]))
    prepared = prepare_sweep(plan, store=open_store(sys.argv[1]), concurrency=16)
    prepared.execute().result()
""")


def test_a_sweep_killed_half_way_resumes_without_duplicates(store, arithmetic):
    import json

    # Slow enough to kill mid-way, and cells long enough (1-2 s) that those in flight have written their
    # first batch: a sweep cell is a quiet run, written once a second.
    plan = arithmetic_plan(model_options={"token_delay": 0.02, "replies": "step " * 60 + "Answer: 4"})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, store.url, json.dumps(plan.as_dict())], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            runs = sweep_runs(store, plan.sweep_id)
            if sum(r.status == "done" for r in runs) >= 60 and any(r.status == "running" for r in runs):
                break
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    before = sweep_runs(store, plan.sweep_id)
    done_before = {r.id for r in before if r.status == "done"}
    assert len(before) < 270 and any(r.status == "running" for r in before)  # cut mid-way, cells in flight
    assert get_sweep(plan.sweep_id, store=store).status == "interrupted"

    prepared = prepare_sweep(plan, store=store, dataset=arithmetic, concurrency=16,
                             model=FakeModel(replies=solve_arithmetic))
    progress = asyncio.run(prepared.sweep.run())

    assert progress.status == "done" and progress.skipped >= len(done_before) and progress.completed == 270
    assert_complete_without_duplicates(store, plan, 270)
    assert done_before <= {r.id for r in sweep_runs(store, plan.sweep_id)}  # finished cells were kept, not redone


def test_a_cancelled_sweep_stops_and_resumes_without_duplicates(store, arithmetic):
    plan = arithmetic_plan()
    slow = FakeModel(replies=solve_arithmetic, token_delay=0.01)
    handle = start_sweep(prepare_sweep(plan, store=store, dataset=arithmetic, model=slow, concurrency=4))
    deadline = time.monotonic() + 30
    while handle.progress.done < 20:
        assert time.monotonic() < deadline and not handle.done
        time.sleep(0.02)
    with pytest.raises(SweepBusy):
        start_sweep(prepare_sweep(plan, store=store, dataset=arithmetic, model=slow))
    handle.cancel()
    assert handle.wait(30)
    cancelled = handle.progress
    assert cancelled.status == "cancelled" and cancelled.completed < 270
    assert get_sweep(plan.sweep_id, store=store).status == "cancelled"
    with store.read() as conn:
        assert conn.scalar(select(func.count()).where(Run.sweep_id == plan.sweep_id,
                                                      Run.status.in_(("running", "queued")))) == 0

    progress = prepare_sweep(plan, store=store, dataset=arithmetic, model=FakeModel(), concurrency=16).execute().result()
    assert progress.status == "done" and progress.skipped == cancelled.done
    assert_complete_without_duplicates(store, plan, 270)


def test_a_sweep_another_live_process_runs_is_refused_and_left_alone(store, arithmetic):
    from storage.liveness import process_token
    from storage.tables import Sweep as SweepRow

    plan = arithmetic_plan(size=2)
    small = Dataset("basic_arithmetic", arithmetic.items[:2])
    prepare_sweep(plan, store=store, dataset=small, model=FakeModel()).execute().result()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with store.write() as conn:  # as if that process were running the sweep now
            conn.execute(SweepRow.__table__.update().values(status="running", owner_pid=other.pid,
                                                            owner_token=process_token(other.pid)))
        with pytest.raises(SweepBusy, match=str(other.pid)):
            prepare_sweep(plan, store=store, dataset=small, model=FakeModel()).execute().result()
        assert get_sweep(plan.sweep_id, store=store).status == "running"
    finally:
        other.kill()
        other.wait()
    assert get_sweep(plan.sweep_id, store=store).status == "interrupted"  # its owner is gone
    again = prepare_sweep(plan, store=store, dataset=small, model=FakeModel()).execute().result()
    assert (again.status, again.skipped) == ("done", 18)


# ---- the dollar cap ----------------------------------------------------------------------------


@pytest.fixture
def priced_fake(tmp_path, monkeypatch):
    prices = tmp_path / "prices.toml"
    prices.write_text('["fake:priced"]\ninput_per_mtok = 10.0\noutput_per_mtok = 10.0\n')
    monkeypatch.setenv("BUDGET_ARENA_PRICES", str(prices))
    return lambda: FakeModel(name="fake:priced", replies=solve_arithmetic)


def test_the_dollar_cap_stops_the_sweep_before_it_could_be_exceeded(store, arithmetic, priced_fake):
    plan = arithmetic_plan(model="fake:priced")
    cap = 0.02
    prepared = prepare_sweep(plan, store=store, dataset=arithmetic, model=priced_fake(), concurrency=4, max_usd=cap)
    assert prepared.estimate.total == pytest.approx(30 * 3 * 1400 * 10 / 1e6)
    progress = prepared.execute().result()

    results = strategy_results(sweep_id=plan.sweep_id, store=store)
    spent = float(results["usd"].sum())
    assert progress.status == "capped" and 0 < len(results) < 270
    assert spent == pytest.approx(progress.spent_usd) and spent <= cap
    worst_next = 800 * 10 / 1e6  # the largest budget's worst case
    assert spent + worst_next > cap  # it stopped only when the next cell's worst case no longer fitted
    assert get_sweep(plan.sweep_id, store=store).status == "capped"

    # The cap is for the whole sweep: resuming under the same cap starts nothing more...
    again = asyncio.run(prepare_sweep(plan, store=store, dataset=arithmetic, model=priced_fake(),
                                      max_usd=cap).sweep.run())
    assert again.status == "capped" and again.spent_usd <= cap
    assert float(strategy_results(sweep_id=plan.sweep_id, store=store)["usd"].sum()) <= cap
    # ...and a higher cap carries on from where it stopped.
    more = asyncio.run(prepare_sweep(plan, store=store, dataset=arithmetic, model=priced_fake(),
                                     max_usd=1.0).sweep.run())
    assert more.status == "done" and more.skipped == len(results)
    assert_complete_without_duplicates(store, plan, 270)


class MemorySink:
    """A SweepSink without a store: each cell 'spends' a set amount."""

    def __init__(self, spend: float):
        self.spend = spend
        self.ran: list[str] = []
        self.finished = None

    def resume_state(self):
        from reasoning.sweep import ResumeState

        return ResumeState(frozenset(), 0.0)

    async def run_cell(self, cell, model):
        from reasoning.sweep import CellOutcome

        await asyncio.sleep(0)
        self.ran.append(cell.key)
        return CellOutcome("done", usd=self.spend if self.spend >= 0 else worst_case_usd(cell.budget, PRICE))

    def cancel_running(self):
        pass

    def finish(self, progress):
        self.finished = progress


PRICE = ModelPrice(100.0, 100.0)  # $1e-4 a token: 1,000 tokens are $0.1, 2,000 are $0.2


def test_the_cap_is_reached_even_when_the_reservations_do_not_sum_back_to_exactly_zero(arithmetic):
    # Reserving 0.1 + 0.2 and releasing both leaves 4e-17, not 0, in a float sum. With each cell
    # spending its worst case, the third cell cannot fit under $0.35: the sweep must stop (capped),
    # not wait for room that nothing in flight will ever free.
    from reasoning.sweep import Sweep

    plan = arithmetic_plan(budgets=(Budget(total_tokens=1000), Budget(total_tokens=2000)),
                           strategies=(StrategyChoice("direct"),))
    cells = plan_cells(plan, Dataset("basic_arithmetic", arithmetic.items[:3]))
    sink = MemorySink(spend=-1)
    sweep = Sweep(plan.sweep_id, cells, FakeModel(name="fake:priced"), sink, price=PRICE, concurrency=2, max_usd=0.35)
    progress = asyncio.run(asyncio.wait_for(sweep.run(), 10))
    assert progress.status == "capped" and progress.done == 2 and len(sink.ran) == 2
    assert progress.spent_usd == pytest.approx(0.3) and progress.reserved_usd == 0.0
    assert sink.finished.status == "capped"


class LosingSink(MemorySink):
    """Loses (cannot store) the cells in `lose`: what a full disk does to a cell."""

    def __init__(self, lose: set[int]):
        super().__init__(spend=0.0)
        self.lose = lose

    async def run_cell(self, cell, model):
        from reasoning.sweep import CellOutcome

        if cell.index in self.lose:
            await asyncio.sleep(0)
            self.ran.append(cell.key)
            return CellOutcome("lost", usd=0.01, error="the store x.db is full (database or disk is full)")
        return await super().run_cell(cell, model)


def test_a_lost_cell_is_not_done_and_stops_the_sweep(arithmetic):
    from reasoning.sweep import Sweep

    plan = arithmetic_plan(strategies=(StrategyChoice("direct"),), budgets=(Budget(total_tokens=300),))
    cells = plan_cells(plan, Dataset("basic_arithmetic", arithmetic.items[:10]))
    sink = LosingSink({2})
    progress = asyncio.run(asyncio.wait_for(
        Sweep(plan.sweep_id, cells, FakeModel(), sink, price=FREE, concurrency=1).run(), 10))
    # One at a time: cells 0 and 1 done, 2 lost, and no cell started after it.
    assert (progress.status, progress.done, progress.lost, progress.failed) == ("error", 2, 1, 0)
    assert len(sink.ran) == 3 and progress.completed == 2 and progress.remaining == 8
    assert progress.error == ("1 cell could not be stored (the store x.db is full (database or disk is full)); "
                              "run the sweep again to redo it")
    assert progress.spent_usd == pytest.approx(0.01)  # paid for, though not stored
    assert sink.finished.status == "error"


def test_a_dollar_cap_needs_bounded_budgets_and_a_price(store, arithmetic, priced_fake):
    small = Dataset("basic_arithmetic", arithmetic.items[:2])
    with pytest.raises(SweepPlanError, match="must cap total tokens or dollars"):
        prepare_sweep(arithmetic_plan(model="fake:priced", budgets=(Budget(seconds=10),)), store=store,
                      dataset=small, model=priced_fake(), max_usd=1.0)
    unpriced = FakeModel(name="fake:x")
    unpriced_price = ModelPrice(0.0, 0.0, known=False)
    from reasoning.sweep import Sweep

    with pytest.raises(SweepPlanError, match="needs a price"):
        Sweep("sw-x", [], unpriced, sink=None, price=unpriced_price, max_usd=1.0)  # type: ignore[arg-type]


# ---- 429 ---------------------------------------------------------------------------------------


class RateLimitedFake(FakeModel):
    """Refuses its first `refusals` calls with 429, as a provider under load does."""

    def __init__(self, refusals: int, **kwargs):
        super().__init__(**kwargs)
        self.refusals = refusals
        self.attempts = 0

    async def stream(self, messages, **kwargs):
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise ModelError("fake: rate limited (HTTP 429); retry after 3 s", status=429, retryable=True)
        async for chunk in super().stream(messages, **kwargs):
            yield chunk


async def collect(model, max_tokens: int = 50) -> str:
    return "".join([c.text async for c in model.stream([{"role": "user", "content": "hi"}], max_tokens=max_tokens)])


async def test_429_is_retried_with_growing_backoff_honouring_retry_after():
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:  # a fake clock: no test waits for real
        sleeps.append(seconds)
        now[0] += seconds

    limit = RateLimit(base_delay=1.0, max_retries=5, max_delay=60)
    model = RateLimitedModel(RateLimitedFake(4, replies="Answer: 4"), ProviderLimiter(limit, clock=lambda: now[0]),
                             sleep=sleep, seed=1)
    assert await collect(model) == "Answer: 4"
    assert model.limiter.rate_limited == 4 and model.inner.attempts == 5
    backoffs = sleeps
    assert len(backoffs) == 4
    assert all(s >= 3.0 for s in backoffs)  # the provider asked for 3 s
    assert backoffs[-1] > backoffs[0]  # and it grows: 1, 2, 4, 8 s with jitter, at least 3
    assert retry_after(ModelError("x; retry after 7.5 s", status=429)) == 7.5


async def test_429_retries_give_up_after_max_retries_and_other_errors_are_not_retried():
    async def no_sleep(_: float) -> None:
        return None

    model = RateLimitedModel(RateLimitedFake(10), ProviderLimiter(RateLimit(max_retries=2)), sleep=no_sleep)
    with pytest.raises(ModelError, match="429"):
        await collect(model)
    assert model.inner.attempts == 3

    cut = RateLimitedModel(FakeModel(replies="a b c d", fail_after_tokens=2), ProviderLimiter(RateLimit()),
                           sleep=no_sleep)
    with pytest.raises(ModelError, match="cut"):
        await collect(cut)
    assert len(cut.inner.calls) == 1  # output had started: not retried


def test_a_429_holds_back_every_caller_of_that_provider():
    now = [100.0]
    limiter = ProviderLimiter(RateLimit(requests_per_minute=60), clock=lambda: now[0])
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(1.0)  # paced: one a second
    import random

    delay = limiter.backoff(0, asked=5.0, rng=random.Random(0))
    assert delay >= 5.0
    assert limiter.reserve() >= 5.0  # everyone waits out the pause


def test_a_sweep_through_429s_completes_every_cell(store, arithmetic):
    small = Dataset("basic_arithmetic", arithmetic.items[:3])
    flaky = RateLimitedFake(5, replies=solve_arithmetic)
    model = RateLimitedModel(flaky, ProviderLimiter(RateLimit(base_delay=0.001, max_delay=0.01)))
    plan = arithmetic_plan(size=3)
    progress = asyncio.run(prepare_sweep(plan, store=store, dataset=small, model=model, concurrency=4).sweep.run())
    assert (progress.status, progress.done, progress.failed) == ("done", 27, 0)
    assert model.limiter.rate_limited == 5
    assert strategy_results(sweep_id=plan.sweep_id, store=store)["correct"].all()
