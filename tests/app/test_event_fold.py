"""The one fold of a run's events (app.panes.RunView): the same view from the typed events as the
engine emits them and from the rows the recorder stored (and from the fold stored once the run
ended); a row of a kind this version does not know is reported, on the page too, never a crash;
a pane names what its strategy's confidence is."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

import storage.runner as runner_module
from app.pane_text import confidence_text
from app.panes import RunView
from app.run_summary import MEASURE_COLUMN, entry_row, summary_records
from app.stored_view import decode_view, encode_view, ended_view, folded_view
from reasoning.budget import Budget, Spend
from reasoning.events import Event
from reasoning.models.fake import FakeModel
from storage.queries import events_since, get_run
from storage.recorder import RunRecorder
from storage.run_spec import RunSpec
from storage.runner import Runner, get_runner
from storage.store import Store
from storage.tables import Event as EventRow
from tests.support import MAIN, page_store

# Thinking then text, slowly enough that spend reports arrive mid-stream and parallel samples interleave.
REPLY = "<think>Two and two.</think>Let me add: 2 + 2 = 4. Answer: 4"
STRATEGIES = ["chain_of_thought", ("self_consistency", {"stop_rule": "fixed", "samples": 3, "batch_size": 3}),
              ("debate", {"agents": 2, "rounds": 1}), ("direct", {}, Budget(total_tokens=30))]

EMITTED: dict[str, list[tuple[int, Event, float]]] = {}  # run id -> (entry, event, seconds into the run)


class CapturingRecorder(RunRecorder):
    """The runner's recorder, keeping every event it is given as the engine emitted it."""

    def add(self, strategy_index: int, event: Event) -> None:
        EMITTED.setdefault(self.run_id, []).append((strategy_index, event, time.monotonic() - self._t0))
        super().add(strategy_index, event)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner_module, "RunRecorder", CapturingRecorder)
        with page_store(tmp_path_factory.mktemp("fold")) as the_store:
            yield the_store


@pytest.fixture(scope="module")
def runner(store: Store) -> Runner:
    return get_runner(store)


def record(runner: Runner, strategies: list, reference: str | None = "4", **model: Any) -> str:
    run_id = runner.submit(RunSpec(problem="What is 2 + 2?", model=FakeModel(**model), strategies=strategies,
                                   budget=Budget(total_tokens=2000), reference=reference))
    assert runner.wait(run_id, timeout=60) == "done"
    return run_id


def shown(view: RunView) -> dict[str, Any]:
    """Everything a view shows that does not depend on how deltas were grouped into rows (seqs,
    event counts) or on the instant each was timed."""
    return {
        "panes": [{
            "streams": {label: (s.text, s.thinking) for label, s in p.streams.items()},
            "stream_order": sorted(p.streams, key=lambda label: p.streams[label].first_seq),
            "notes": [(n.label, n.text, n.data) for n in p.notes],
            "answer": (p.best_answer, p.confidence, p.final_answer),
            "end": (p.stop, p.stop_detail, p.error, p.status(), p.status("done", run_active=False)),
            "spent": p.spent, "calls": p.calls, "unreported": "".join(p.unreported),
        } for p in view.panes],
        "spend": [{k: v for k, v in s.items() if k != "seconds"} for s in view.spend_samples],
        "end_spends": view.end_spends(), "labels": view.labels(), "skipped": view.skipped,
    }


def test_the_fold_gives_the_same_view_from_live_events_and_from_stored_rows(store, runner):
    run_id = record(runner, STRATEGIES, replies=REPLY, token_delay=0.002)
    info = get_run(run_id, store=store)
    assert info is not None
    rows = events_since(run_id, 0, store=store)
    emitted = EMITTED[run_id]
    assert len(rows) < len(emitted)  # the recorder coalesced deltas: fewer rows than events

    live = RunView.for_run(info)
    for index, event, seconds in emitted:
        live.apply_event(index, event, seconds)
    stored = RunView.for_run(info)
    assert stored.apply(rows) == len(rows)
    assert shown(live) == shown(stored)
    assert [s["seconds"] for s in live.spend_samples] == pytest.approx(
        [s["seconds"] for s in stored.spend_samples], abs=0.05)
    # The view covers every kind of event the run had, and every entry ended its own way.
    kinds = {event.kind for _, event, _ in emitted}
    assert {"text", "thinking", "spend", "partial", "note", "final"} <= kinds
    sc = stored.panes[1]
    assert len(sc.streams) == 3 and all(s.text.endswith("Answer: 4") and s.thinking == "Two and two."
                                        for s in sc.streams.values())
    assert [p.stop for p in stored.panes] == ["done", "done", "done", "budget"]
    assert stored.panes[3].stop_detail and stored.panes[0].spent.total_tokens > 0

    # Folded again in steps (as the live page does), and read back from the fold stored at the run's end.
    stepped = RunView.for_run(info)
    for start in range(0, len(rows), 7):
        stepped.apply(rows[start:start + 7])
    assert shown(stepped) == shown(stored)
    from_fold = ended_view(store, run_id, info.last_seq, len(info.strategies))
    assert from_fold is not None and shown(from_fold) == shown(stored)


def test_a_row_of_a_kind_this_version_does_not_know_is_reported_not_crashed_on(caplog):
    @dataclass
    class Row:
        seq: int
        kind: str
        payload: dict[str, Any] = field(default_factory=dict)
        strategy_index: int | None = 0
        label: str | None = None
        elapsed: float = 0.0
        total_tokens: int | None = None
        usd: float | None = None

    view = RunView.for_strategies([("direct", {})])
    with caplog.at_level(logging.WARNING, logger="app.panes"):
        applied = view.apply([
            Row(1, "text", {"text": "Answer: 4"}, label="reply"),
            Row(2, "hologram", {"kind": "hologram", "frames": 3}),
            Row(3, "spend", {"spent": "lots"}),  # damaged: a spend that is not one
            Row(4, "hologram", {}),
            Row(5, "final", {"answer": "4", "stop": "done", "spent": Spend(input_tokens=3).as_dict()}),
        ])
    assert applied == 2 and view.last_seq == 5  # the cursor moves past them: they are not read again
    pane = view.panes[0]
    assert (pane.streams["reply"].text, pane.final_answer, pane.stop, pane.events) == ("Answer: 4", "4", "done", 2)
    assert [(s.seq, s.kind) for s in view.skipped] == [(2, "hologram"), (3, "spend"), (4, "hologram")]
    assert "unknown event kind 'hologram'" in view.skipped[0].reason and "not a spend" in view.skipped[1].reason
    assert view.skipped_text() == ("3 events not shown: this version cannot read kind 'hologram', 'spend' "
                                   "(written by a newer version, or damaged)")
    assert len(caplog.records) == 2  # one line per kind, not one per row
    assert RunView.for_strategies([("direct", {})]).skipped_text() is None


def test_the_run_page_says_what_it_skipped_and_names_a_vote_share(store, runner):
    """A run another (newer) version wrote a kind into: its page, its stored fold and `show` still
    work, and say what was skipped. Its self-consistency pane reads "vote share", apart from the
    note's P(leader wins)."""
    run_id = record(runner, [("self_consistency", {"stop_rule": "beta", "max_samples": 4, "batch_size": 2})],
                    reference=None, replies=["Answer: 4", "Answer: 4", "Answer: 5", "Answer: 4"])
    info = get_run(run_id, store=store)
    assert info is not None
    last = info.last_seq
    with store.write() as conn:  # written by a newer version into the shared store
        conn.execute(insert(EventRow).values(run_id=run_id, seq=last + 1, strategy_index=0, kind="hologram",
                                             label=None, payload={"kind": "hologram"}, elapsed=1.0, wall=0.0))
    view = folded_view(store, run_id)
    assert view is not None and [s.kind for s in view.skipped] == ["hologram"]
    assert decode_view(*encode_view(view)).skipped == view.skipped  # kept in the stored fold

    pane = view.panes[0]
    assert pane.best_answer == "4" and pane.confidence == pytest.approx(0.75)
    votes = [n.text for n in pane.notes if n.label == "votes"]
    assert votes and "P(leader wins)=" in votes[-1]
    assert confidence_text(pane.confidence, pane.strategy) == "vote share 75%"
    [row] = summary_records([entry_row(pane, "Self-consistency", pane.status(), {}, None)], has_reference=False)
    assert row[MEASURE_COLUMN] == "vote share 75%"

    at = AppTest.from_file(MAIN, default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 event not shown: this version cannot read kind 'hologram'" in w.value for w in at.warning)
    captions = [c.value for c in at.caption]
    assert "vote share 75%" in captions and not any(c.startswith("confidence ") for c in captions)


def test_confidence_is_named_for_what_each_strategy_measures():
    assert confidence_text(1.0, "self_consistency") == "vote share 100%"
    assert confidence_text(2 / 3, "debate") == "vote share 67%"
    assert confidence_text(0.625, "anytime") == "Q(b) 0.62"
    assert confidence_text(0.8, "tree_of_thoughts") == "rated 0.80"
    assert confidence_text(0.8, "value_tree") == "R 0.80"
    assert confidence_text(0.666, "a_plugin") == confidence_text(0.666) == "confidence 67%"
    assert confidence_text(None, "self_consistency") == "no confidence reported"
