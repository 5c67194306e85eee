"""The Run page (`?run=<id>`) under AppTest, drawn from runs the fake model recorded in a private
store: every pane, its answer, verdict, stop reason, decisions and streamed text; the charts' data
equals what the stored curve points and spend events give; a live run grows, can be cancelled and
replayed; unknown or malformed ids and an unreadable store are plain messages, never tracebacks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from sqlalchemy import delete
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from app.charts import quality_steps, series_name
from app.markdown_text import literal_markdown
from app.run_page import PAGE_CSS
from reasoning.budget import Budget
from reasoning.model_protocol import ModelError
from reasoning.models.fake import FakeModel
from storage.queries import curve_points, get_run
from storage.runner import Runner, RunSpec, get_runner
from storage.store import Store
from storage.tables import RunFold
from tests.support import MAIN, page_store

PROBLEM = "What is 2+2? (use *care*)"
REASONING = "Let me think. <b>2</b> + 2 = 4. Answer: 4"
WRONG = "Answer: 5"
RIGHT = "**Final answer:** {} :green-badge[:material/check: right]"
WRONG_MARK = "**Final answer:** {} :red-badge[:material/close: wrong]"
TOKENS_2000 = Budget(total_tokens=2000)
STRATEGIES = ("chain_of_thought", ("self_consistency", {"stop_rule": "fixed", "samples": 3}), "direct")


def scripted(messages: Sequence[dict], index: int) -> str:
    """Step-by-step prompts get a right answer; the answer-only prompt (direct) a wrong one."""
    return WRONG if "Give only the final answer" in messages[-1]["content"] else REASONING


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A private SQLite store that the page opens too (BUDGET_ARENA_DB)."""
    with page_store(tmp_path_factory.mktemp("run-page")) as the_store:
        yield the_store


@pytest.fixture(scope="module")
def runner(store: Store) -> Runner:
    return get_runner(store)


def record(runner: Runner, model: FakeModel, strategies: Sequence = STRATEGIES, *, wait: bool = True,
           budget: Budget = TOKENS_2000, reference: str | None = "4") -> str:
    run_id = runner.submit(RunSpec(problem=PROBLEM, model=model, strategies=list(strategies), budget=budget,
                                   reference=reference))
    if wait:
        assert runner.wait(run_id, timeout=30) in ("done", "error")
    return run_id


@pytest.fixture(scope="module")
def finished(runner: Runner) -> str:
    return record(runner, FakeModel(replies=scripted))


def open_run(run_id: str | None) -> AppTest:
    """The page a share link opens: the landing page forwards ?run= to the Run page."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    if run_id is not None:
        at.query_params["run"] = run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(markdown: str) -> str:
    """Text shown through literal_markdown, without its escapes."""
    return re.sub(r"\\(.)", r"\1", markdown)


def block(at: AppTest, key: str) -> Block:
    """A keyed container (st.container(key=...)) anywhere on the page."""
    found = _find(at.main, key)
    assert found is not None, f"no container keyed {key!r}"
    return found


def _find(node: Block, key: str) -> Block | None:
    for child in getattr(node, "children", {}).values():
        if isinstance(child, Block) and getattr(child, "key", None) == key:
            return child
        found = _find(child, key)
        if found is not None:
            return found
    return None


def texts(node: Block, kind: str) -> list[str]:
    return [plain(element.value) for element in getattr(node, kind)]


def live_streams(at: AppTest, index: int) -> dict:
    """What pane `index`'s streams component was sent (the entry is still running: app.live_pane)."""
    (component,) = block(at, f"streams-{index}").get("bidi_component")
    assert component.proto.component_name == "budget_arena.live_pane_streams"
    return json.loads(component.proto.json)


def live_head(at: AppTest, index: int) -> dict:
    """What the top of pane `index` was sent while its entry runs (app.live_pane)."""
    heads = [c for c in block(at, f"pane-{index}").get("bidi_component")
             if c.proto.component_name == "budget_arena.live_pane_head"]
    assert len(heads) == 1
    return json.loads(heads[0].proto.json)


def style_sheets_only(at: AppTest) -> bool:
    """Every raw HTML element on the page is one of the app's style sheets (app.main, app.run_page.PAGE_CSS)."""
    bodies = [h.proto.body for h in at.get("html")]
    return all(re.fullmatch(r"<style>[^<]*</style>", body) for body in bodies)


def chart_frames(at: AppTest, node: Block | None = None) -> list[tuple[dict, list[pd.DataFrame]]]:
    """Each Vega-Lite chart of the run (under `node`: of a pane): its spec and the data frames sent
    with it. Without a node, the run's charts: the panes' own (a vote tally...) left out."""
    in_panes = {id(e) for e in block(at, "panes").get("vega_lite_chart")} if node is None else set()
    return [(json.loads(element.proto.spec), _chart_data(element.proto))
            for element in (node or at).get("vega_lite_chart") if id(element) not in in_panes]


def _chart_data(proto) -> list[pd.DataFrame]:  # noqa: ANN001 - an ArrowVegaLiteChart proto
    """The frames a chart was sent: its unnamed data (the run's charts), then its named datasets."""
    arrows = ([proto.data.data] if proto.data.data else []) + [d.data.data for d in proto.datasets]
    return [pa.ipc.open_stream(arrow).read_pandas() for arrow in arrows]


# ---- a finished run ---------------------------------------------------------------------------


def test_every_pane_shows_its_answer_verdict_stop_and_output(store: Store, finished: str) -> None:
    at = open_run(finished)
    info = get_run(finished, store=store)
    assert info is not None
    assert at.title[0].value == "Run"
    assert PROBLEM in texts(at.main, "markdown") and "**Reference answer:** 4" in texts(at.main, "markdown")

    titles = ["**1. Chain-of-thought**", "**2. Self-consistency (budget-aware)**", "**3. Direct answer**"]
    answers = [RIGHT.format(4), RIGHT.format(4), WRONG_MARK.format(5)]
    for index, strategy in enumerate(info.strategies):
        pane = block(at, f"pane-{index}")
        markdown = texts(pane, "markdown")
        assert markdown[0] == titles[index] + " :green-badge[done]"  # the badge in the title's line
        assert texts(block(at, f"answer-{index}"), "markdown") == [answers[index]]
        captions = texts(pane, "caption")
        stopped = [c for c in captions if c.startswith("Stopped:")]
        calls = f"{strategy.calls} call" + ("s" if strategy.calls != 1 else "")
        assert stopped == [f"Stopped: finished · {strategy.total_tokens:,} tokens in {calls} · "
                           f"$0.0000 · {strategy.seconds:.1f} s"]
        # The spend bar: tokens against the run's cap, as a percentage.
        assert pane.get("progress")[0].value == int(100 * strategy.total_tokens / 2000)
        assert texts(block(at, f"streams-{index}"), "markdown")[-1] == (WRONG if index == 2 else REASONING)

    # Self-consistency's decisions: its stop decision in view, its votes in the expander.
    sc = block(at, "pane-1")
    assert any(m.startswith("Latest decision · **stop**:") for m in texts(sc, "markdown"))
    assert "**votes**: sample 3: 4 · votes: 4 ×3" in texts(sc, "markdown")
    assert "vote share 100%" in texts(block(at, "answer-1"), "caption")  # its confidence is the vote share
    assert [e.label for e in block(at, "streams-1").expander] == [f"sample {i} · {len(REASONING)} chars"
                                                                 for i in (1, 2, 3)]


def test_the_charts_plot_the_stored_curve_points_and_spend(store: Store, finished: str) -> None:
    at = open_run(finished)
    info = get_run(finished, store=store)
    assert info is not None
    charts = chart_frames(at)
    assert len(charts) == 2  # quality against tokens, spend over time (every call was free: no dollar chart)
    assert "Every call was free" in " ".join(texts(at.main, "caption"))

    quality_spec, quality_data = charts[0]
    assert quality_spec["layer"][0]["encoding"]["x"]["field"] == "tokens"
    steps = quality_data[0]
    expected = quality_steps(curve_points(finished, store=store),
                             pd.DataFrame([{"strategy_index": s.strategy_index, "strategy": s.strategy,
                                            "tokens": s.total_tokens, "usd": s.usd} for s in info.strategies]))
    assert steps[["series", "tokens", "quality", "point"]].to_dict("records") == \
        expected[["series", "tokens", "quality", "point"]].to_dict("records")
    by_series = steps.groupby("series")["quality"].agg(list).to_dict()
    assert by_series[series_name(0, "chain_of_thought")] == [1.0]
    assert set(by_series[series_name(1, "self_consistency")]) == {1.0}
    assert by_series[series_name(2, "direct")] == [0.0]
    # Each strategy's line reaches as far as it spent.
    reach = steps.groupby("series")["tokens"].max().to_dict()
    assert reach == {series_name(s.strategy_index, s.strategy): s.total_tokens for s in info.strategies}

    spend_spec, spend_data = charts[1]
    assert spend_spec["encoding"]["x"]["field"] == "seconds" and spend_spec["encoding"]["y"]["field"] == "tokens"
    spend = spend_data[0]
    last = spend.groupby("series")["tokens"].max().to_dict()
    assert last == {series_name(s.strategy_index, s.strategy): s.total_tokens for s in info.strategies}
    assert (spend.groupby("series")["tokens"].apply(lambda t: t.is_monotonic_increasing)).all()


def test_a_priced_model_gets_a_chart_against_dollars_too(runner: Runner, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('["fake:priced"]\ninput_per_mtok = 1000.0\noutput_per_mtok = 2000.0\n')
    monkeypatch.setenv("BUDGET_ARENA_PRICES", str(prices))
    run_id = record(runner, FakeModel(replies=scripted, name="fake:priced"), strategies=("chain_of_thought",))
    at = open_run(run_id)
    charts = chart_frames(at)
    assert [spec["layer"][0]["encoding"]["x"]["field"] for spec, _ in charts[:2]] == ["tokens", "usd"]
    usd = charts[1][1][0]
    info = get_run(run_id, store=runner.store)
    assert info is not None and info.strategies[0].usd > 0
    assert usd["usd"].max() == pytest.approx(info.strategies[0].usd)
    assert not any("Every call was free" in c for c in texts(at.main, "caption"))


def test_an_ended_runs_fold_is_read_once_and_shared_by_every_session(runner: Runner, monkeypatch) -> None:
    import app.run_page

    run_id = record(runner, FakeModel(replies=scripted))
    reads: list[int] = []
    real_events_since = app.run_page.events_since

    def counting(run: str, seq: int = 0, **kwargs):
        events = real_events_since(run, seq, **kwargs)
        if run == run_id:
            reads.append(len(events))
        return events

    monkeypatch.setattr(app.run_page, "events_since", counting)
    first, second = open_run(run_id), open_run(run_id)  # two visitors of one share link
    assert not any(reads), reads  # the runner stored the run's fold as it ended: no event is read
    # A run stored before folds were (or by a process that stores none): read and folded once.
    with runner.store.write() as conn:
        conn.execute(delete(RunFold).where(RunFold.run_id == run_id))
    st.cache_resource.clear()
    third, fourth = open_run(run_id), open_run(run_id)
    assert sum(1 for n in reads if n > 0) == 1, reads
    for at in (first, second, third, fourth):
        assert "Final answer" in " ".join(texts(block(at, "answer-0"), "markdown"))


def test_actions_of_a_finished_run(finished: str) -> None:
    at = open_run(finished)
    assert [b.label for b in at.button] == ["Replay"]
    assert at.get("download_button")[0].proto.label == "Download JSON"
    assert at.code[0].value == f"./?run={finished}"  # relative: AppTest has no browser URL
    # Nothing on the page is raw HTML but the layout's style sheet (app.run_page.PAGE_CSS).
    assert style_sheets_only(at) and PAGE_CSS in [h.proto.body for h in at.get("html")]


def test_replay_shows_the_run_again_then_returns_to_the_finished_view(runner: Runner) -> None:
    reply = " ".join(["step"] * 40) + " Answer: 4"
    run_id = record(runner, FakeModel(replies=reply, token_delay=0.04), strategies=("chain_of_thought",))
    at = open_run(run_id)
    at.selectbox(key=f"replay.speed.{run_id}").set_value(2.0)
    at.button(key=f"replay.start.{run_id}").click().run()
    assert not at.exception
    progress = [p.proto.text for p in at.get("progress") if "Replaying" in p.proto.text]
    assert len(progress) == 1 and progress[0].startswith("Replaying at 2×"), progress
    assert [b.label for b in at.button] == ["Stop replay"]
    head = live_head(at, 0)  # replaying: the pane is drawn as a running one
    assert (head["answer"], head["confidence"]) == ("", "No answer yet.")  # the answer came at the end
    time.sleep(1.2)  # the run lasted ~1.7 s: at 2× the replay is over
    at.run()
    at.run()  # the fragment saw the end and asked for a full rerun
    assert not at.exception
    assert [b.label for b in at.button] == ["Replay"]
    assert not [p for p in at.get("progress") if "Replaying" in p.proto.text]
    assert texts(block(at, "answer-0"), "markdown") == [RIGHT.format(4)]


# ---- a live run ---------------------------------------------------------------------------------


def test_a_live_run_grows_between_repaints_and_can_be_cancelled(store: Store, runner: Runner) -> None:
    slow = FakeModel(replies=" ".join(["word"] * 400) + " Answer: 4", token_delay=0.02)
    run_id = record(runner, slow, strategies=("chain_of_thought", "direct"), wait=False)
    time.sleep(0.8)
    at = open_run(run_id)
    assert texts(at.main, "markdown")[0] == ":blue-badge[running]"
    assert [b.label for b in at.button] == ["Cancel run"]
    # A running entry's pane is two components (app.live_pane) sent plain text: its top...
    head = live_head(at, 0)
    assert head["title"] == "1. Chain-of-thought" and head["color"] == "blue"
    assert head["status"] in ("generating", "running")  # "running" before its call reports a state
    assert re.fullmatch(r"(≈ )?[\d,]+ tokens? / 2,000 tokens", head["bar_text"]) and 0 < head["fraction"] < 1
    assert head["confidence"] == "No answer yet." and head["error"] == ""
    # ...and its streams.
    streams = live_streams(at, 0)
    first = streams["streams"][-1]
    assert first["text"].startswith("word word") and first["open"]
    assert (first["key"], first["label"], first["chars"]) == ("reasoning", "reasoning", len(first["text"]))
    # AppTest serves no live feed (app/asgi.py does): the repaints bring the text, as of their seq.
    assert streams["feed"] is None and not streams["live"] and streams["seq"] > 0
    time.sleep(0.8)
    at.run()
    second = live_streams(at, 0)["streams"][-1]["text"]
    assert len(second) > len(first["text"]), "the pane should show the text streamed since the last repaint"

    at.button(key=f"cancel.{run_id}").click().run()
    assert runner.wait(run_id, timeout=30) == "cancelled"
    at.run()
    at.run()
    assert not at.exception
    assert texts(at.main, "markdown")[0] == ":orange-badge[cancelled]"
    # Direct (48 tokens at most) had finished; chain-of-thought was stopped mid-stream.
    assert texts(block(at, "pane-0"), "markdown")[0].endswith(" :orange-badge[cancelled]")
    assert any(c.startswith("Stopped: cancelled") for c in texts(block(at, "pane-0"), "caption"))
    assert any(c.startswith("Stopped: finished") for c in texts(block(at, "pane-1"), "caption"))


def test_a_time_cap_stops_a_strategy_with_budget_reached(runner: Runner) -> None:
    slow = FakeModel(replies=" ".join(["word"] * 200) + " Answer: 4", token_delay=0.01)
    run_id = record(runner, slow, strategies=("chain_of_thought",), budget=Budget(seconds=0.5))
    at = open_run(run_id)
    captions = texts(block(at, "pane-0"), "caption")
    assert any(c.startswith("Stopped: budget reached") for c in captions), captions
    assert texts(block(at, "answer-0"), "markdown") == ["**Final answer:** none"]
    assert "No answers yet" in " ".join(texts(at.main, "caption"))  # no answer: no quality curve


def test_a_failing_strategy_shows_its_error_in_its_own_pane(runner: Runner) -> None:
    def flaky(messages: Sequence[dict], index: int) -> str:
        if "Give only the final answer" in messages[-1]["content"]:
            raise ModelError("the provider said: overloaded (529)")
        return REASONING

    run_id = record(runner, FakeModel(replies=flaky), strategies=("chain_of_thought", "direct"))
    at = open_run(run_id)
    assert texts(block(at, "pane-1"), "markdown")[0].endswith(" :red-badge[error]")
    assert any("overloaded (529)" in e for e in texts(block(at, "pane-1"), "error"))
    assert not texts(block(at, "pane-0"), "error")
    assert texts(block(at, "answer-0"), "markdown") == [RIGHT.format(4)]



# ---- the live text feed -------------------------------------------------------------------------


async def test_the_live_feed_sends_each_text_delta_once_after_the_seq_asked_then_ends(runner: Runner) -> None:
    """app.live_feed.messages: the stored text and thinking deltas after `seq`, in order with their
    seqs, which add up to each stream's text; RUN_ENDED once the run has ended and all was sent."""
    from app.live_feed import RUN_ENDED, messages
    from app.panes import RunView
    from storage.queries import events_since

    run_id = record(runner, FakeModel(replies="<think>hmm, let me see</think>" + REASONING))
    sent = [m async for m in messages(run_id, 0)]
    assert sent[-1] == RUN_ENDED and RUN_ENDED not in sent[:-1]
    rows = [row for m in sent[:-1] for row in json.loads(m)["rows"]]
    assert [r[0] for r in rows] == sorted({r[0] for r in rows})  # each delta once, in seq order
    view = RunView.for_strategies([(s, {}) for s in ("chain_of_thought", "self_consistency", "direct")])
    view.apply(events_since(run_id, 0))
    for pane in view.panes:
        for label, stream in pane.streams.items():
            mine = [r for r in rows if r[1] == pane.index and r[2] == label]
            assert "".join(r[4] for r in mine if r[3] == "text") == stream.text
            assert "".join(r[4] for r in mine if r[3] == "thinking") == stream.thinking
    middle = rows[len(rows) // 2][0]
    later = [row for m in [m async for m in messages(run_id, middle)][:-1] for row in json.loads(m)["rows"]]
    assert later == [r for r in rows if r[0] > middle]
    assert [m async for m in messages("no-such-run", 0)] == [RUN_ENDED]

# ---- model output is text, never markup ---------------------------------------------------------


def test_html_and_markdown_in_a_reply_are_escaped(runner: Runner) -> None:
    hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [link](http://x.test) $x^2$"
    run_id = record(runner, FakeModel(replies=hostile), strategies=("chain_of_thought",), reference=None)
    at = open_run(run_id)
    shown = block(at, "streams-0").markdown[-1].value
    assert shown == literal_markdown(hostile)
    # The URL is an inline code span (never a link), the rest escaped: it reads as typed.
    assert plain(shown).replace("`", "") == hostile and "`http://x.test)`" in shown
    assert "<script>" not in shown and "**bold**" not in shown and "](" not in shown
    assert style_sheets_only(at) and PAGE_CSS in [h.proto.body for h in at.get("html")]  # no HTML but the style sheets


# ---- ids that lead nowhere ----------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["AAAAAAAAAAAAAAAA", "nope", "../../etc/passwd", "<script>x</script>",
                                    "x" * 5000, "' OR 1=1 --"])
def test_an_unknown_or_malformed_id_says_no_such_run(store: Store, run_id: str) -> None:
    at = open_run(run_id)
    assert at.title[0].value == "No such run"
    assert len(at.error) == 1 and plain(at.error[0].value).startswith(f"No such run: {run_id[:80]}.")
    assert not at.get("vega_lite_chart")


def test_no_id_points_to_the_compare_page(store: Store) -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page("../pages/run.py").run()
    assert not at.exception
    assert at.info[0].value.startswith("No run chosen.")


def test_an_unreadable_store_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDGET_ARENA_DB", "sqlite:////proc/no-such-dir/runs.db")
    at = open_run("AAAAAAAAAAAAAAAA")
    assert len(at.error) == 1 and at.error[0].value.startswith("Could not read the run store:")
