"""Stored folds of finished runs (storage.run_fold_store, app.stored_view): what a share link reads
instead of every event. The fold read back draws the same panes as the events folded; stream text
is read from the event log only when a stream is read; a fold of other code, of an unfinished run
or missing events is never used."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import delete, func, select

import app.stored_view as stored_view
from app.panes import RunView
from app.stored_view import (
    StoredStream,
    decode_view,
    encode_view,
    ended_view,
    fold_version,
    folded_view,
    store_view,
    stream_size,
)
from reasoning.budget import Budget
from reasoning.models.fake import FakeModel
from storage import run_fold_store
from storage.queries import get_run
from storage.run_fold_store import load_fold, save_fold, set_fold_builder, stream_text
from storage.run_spec import RunSpec
from storage.runner import Runner, get_runner
from storage.store import Store, forget_store, open_store
from storage.tables import Run, RunFold, RunFoldEntry
from tests.storage.test_storage import BACKENDS, postgres_cluster  # noqa: F401  (the fixture, shared)

REASONING = "Let me think. <b>2</b> + 2 = 4. Answer: 4"
STRATEGIES = ("chain_of_thought", ("self_consistency", {"stop_rule": "fixed", "samples": 3}), "direct")


def scripted(messages: Sequence[dict], index: int) -> str:
    return "Answer: 5" if "Give only the final answer" in messages[-1]["content"] else REASONING


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    url = (f"sqlite:///{tmp_path / 'folds.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_cluster").create_database())
    set_fold_builder(None)  # folds are stored by what a test calls, not by a builder another test registered
    the_store = open_store(url)
    yield the_store
    get_runner(the_store).close()
    forget_store(the_store)


@pytest.fixture
def runner(store: Store) -> Runner:
    return get_runner(store)


def record(runner: Runner, strategies: Sequence = STRATEGIES) -> str:
    run_id = runner.submit(RunSpec(problem="What is 2+2?", model=FakeModel(replies=scripted),
                                   strategies=list(strategies), budget=Budget(total_tokens=2000), reference="4"))
    assert runner.wait(run_id, timeout=30) in ("done", "error")
    return run_id


def same_view(a: RunView, b: RunView) -> None:
    """Field by field, streams' text included (a StoredStream is not a StreamView to ==)."""
    assert (a.last_seq, a.last_elapsed, a.spend_samples) == (b.last_seq, b.last_elapsed, b.spend_samples)
    assert len(a.panes) == len(b.panes)
    for left, right in zip(a.panes, b.panes, strict=True):
        for field in dataclasses.fields(left):
            if field.name == "streams":
                assert list(left.streams) == list(right.streams)
                for label, stream in left.streams.items():
                    other = right.streams[label]
                    assert [getattr(stream, f.name) for f in dataclasses.fields(stream)] == \
                        [getattr(other, f.name) for f in dataclasses.fields(other)]
            else:
                assert getattr(left, field.name) == getattr(right, field.name), field.name


def test_a_stored_fold_draws_what_the_events_fold_to(store: Store, runner: Runner) -> None:
    run_id = record(runner)
    info = get_run(run_id, store=store)
    folded = folded_view(store, run_id)
    assert folded is not None and folded.last_seq == info.last_seq
    assert load_fold(store, run_id, fold_version()) is None  # nothing stored yet (no builder registered)
    first = ended_view(store, run_id, info.last_seq, len(info.strategies))  # folds, then stores
    stored = load_fold(store, run_id, fold_version())
    assert stored is not None and stored.last_seq == info.last_seq and len(stored.entries) == 3
    second = ended_view(store, run_id, info.last_seq, len(info.strategies))  # reads the stored fold
    assert any(isinstance(s, StoredStream) for p in second.panes for s in p.streams.values())
    same_view(folded, first)
    same_view(folded, second)
    assert folded.panes[1].notes and folded.panes[1].final_answer == "4"


def test_a_visitor_of_a_stored_fold_reads_no_event_until_a_stream_is_read(store: Store, runner: Runner,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = record(runner)
    info = get_run(run_id, store=store)
    ended_view(store, run_id, info.last_seq, len(info.strategies))
    reads: list[tuple] = []
    monkeypatch.setattr(stored_view, "events_since", lambda *a, **k: reads.append(a) or [])
    real_text = stored_view.stream_text
    monkeypatch.setattr(stored_view, "stream_text", lambda *a: reads.append(a) or real_text(*a))
    view = ended_view(store, run_id, info.last_seq, len(info.strategies))
    samples = view.panes[1].streams
    assert reads == []  # one row per entry, no event
    assert [stream_size(s) for s in samples.values()] == [len(REASONING)] * 3 and reads == []
    assert samples["sample 2"].text == REASONING  # read now, from the events of that stream only
    assert len(reads) == 1 and reads[0][2:4] == (1, "sample 2")
    assert samples["sample 2"].text == REASONING and len(reads) == 1  # kept


def test_stream_text_reads_one_stream_of_one_entry(store: Store, runner: Runner) -> None:
    run_id = record(runner)
    folded = folded_view(store, run_id)
    for pane in folded.panes:
        for stream in pane.streams.values():
            assert stream_text(store, run_id, pane.index, stream.label, stream.first_seq, stream.last_seq) == \
                (stream.text, stream.thinking)
    assert stream_text(store, "not a run id!", 0, None, 0, 10) == ("", "")


def test_a_fold_of_other_code_or_missing_events_is_not_used(store: Store, runner: Runner) -> None:
    run_id = record(runner)
    info = get_run(run_id, store=store)
    view = folded_view(store, run_id)
    data, panes = encode_view(view)
    assert save_fold(store, run_id, "another version", view.last_seq, data, panes)
    assert load_fold(store, run_id, fold_version()) is None  # another version: not read
    assert not save_fold(store, run_id, fold_version(), view.last_seq - 1, data, panes)  # events after it
    assert load_fold(store, run_id, "another version") is not None  # the refused save changed nothing
    # The page still draws the run: it folds the events and stores its own version.
    same_view(view, ended_view(store, run_id, info.last_seq, len(info.strategies)))
    assert load_fold(store, run_id, fold_version()) is not None
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(RunFold)) == 1
        assert conn.scalar(select(func.count()).select_from(RunFoldEntry)) == 3


def test_an_unfinished_run_is_never_stored(store: Store, runner: Runner) -> None:
    run_id = record(runner)
    view = folded_view(store, run_id)
    with store.write() as conn:  # as if it were still running
        conn.execute(Run.__table__.update().where(Run.id == run_id).values(status="running"))
    assert not store_view(store, run_id, view)
    assert load_fold(store, run_id, fold_version()) is None
    assert not save_fold(store, "no-such-run-id00", fold_version(), 0, {}, [])


def test_deleting_a_run_deletes_its_fold(store: Store, runner: Runner) -> None:
    run_id = record(runner)
    assert store_view(store, run_id, folded_view(store, run_id))
    with store.write() as conn:
        conn.execute(delete(Run).where(Run.id == run_id))
        assert conn.scalar(select(func.count()).select_from(RunFoldEntry)) == 0
        assert conn.scalar(select(func.count()).select_from(RunFold)) == 0


def test_the_codec_keeps_typed_keys_non_finite_numbers_and_sizes() -> None:
    view = RunView.for_strategies([("direct", {"k": 1})])
    pane = view.panes[0]
    pane.confidence = float("nan")
    if hasattr(pane, "calls"):  # a dict with int keys (the call states of a live pane)
        pane.calls[3] = "queued"
    view.spend_samples.append({"strategy_index": 0, "seconds": 1.5, "tokens": 10, "usd": float("inf")})
    data, panes = encode_view(view)
    back = decode_view(data, panes)
    assert back.panes[0].confidence != back.panes[0].confidence  # NaN
    assert back.spend_samples[0]["usd"] == float("inf")
    if hasattr(pane, "calls"):
        assert back.panes[0].calls == {3: "queued"}
    assert encode_view(back) == (data, panes)


def test_the_runner_stores_the_fold_before_it_reports_the_run_done(store: Store, runner: Runner) -> None:
    set_fold_builder(stored_view.store_ended_run)
    try:
        run_id = record(runner)
        stored = load_fold(store, run_id, fold_version())  # no wait: it was stored before `done`
        assert stored is not None and stored.last_seq == get_run(run_id, store=store).last_seq
        set_fold_builder(lambda *_: (_ for _ in ()).throw(RuntimeError("a fold bug")))
        failing = record(runner)  # a failing builder costs the run nothing
        assert get_run(failing, store=store).status == "done" and load_fold(store, failing, fold_version()) is None
    finally:
        set_fold_builder(None)
    assert run_fold_store._builder is None
