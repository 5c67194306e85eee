"""The app's pure functions, without Streamlit: the run fold (panes), the chart data and specs,
the compare form's checks, key handling and cost estimate, and the escaping of model output."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from app.charts import (
    QUALITY_COLUMNS,
    quality_chart,
    quality_steps,
    series_encoding,
    series_name,
    spend_chart,
    spend_frame,
)
from app.controls import (
    ceilings_text,
    check_knobs,
    default_strategies,
    estimate_cost,
    parse_budget,
    strategy_title,
)
from app.markdown_text import literal_markdown
from app.model_picker import (
    FAKE_REPLY,
    KeyChoice,
    allowed_models,
    default_model_fields,
    fake_enabled,
    model_choice,
    offered_providers,
    readiness,
    resolve_key,
)
from app.pane_text import confidence_text, note_data_text, shown_spend, spend_bar, stop_text, verdict_text
from app.panes import NoteView, RunView
from app.run_summary import (
    MEASURE_COLUMN,
    cheapest_right,
    entry_row,
    markdown_table,
    summary_headline,
    summary_records,
)
from app.search_tree import DROPPED, EXPANDED, PRUNED, WAITING, dot_string, search_tree, tree_dot
from app.state import share_link
from app.tree_view import anytime_frame, debate_grid, tally_chart, vote_tally
from reasoning.budget import Budget, Spend
from reasoning.config import Limits
from reasoning.deployment_limits import LimitError
from reasoning.models.providers import NO_KEY
from reasoning.wording import number_text, plural, sentence

# ---- the fold: stored events into panes ---------------------------------------------------------


@dataclass
class Row:
    """A stored event as the fold reads it (storage.queries.StoredEvent has these fields)."""

    seq: int
    strategy_index: int | None
    kind: str
    label: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    total_tokens: int | None = None
    usd: float | None = None


def spent(tokens: int, usd: float = 0.0) -> dict[str, Any]:
    return Spend(input_tokens=tokens // 2, output_tokens=tokens - tokens // 2, usd=usd, calls=1).as_dict()


EVENTS = [
    Row(1, 0, "text", "sample 1", {"text": "Two plus "}, 0.1),
    Row(2, 1, "thinking", "reasoning", {"text": "hmm"}, 0.1),
    Row(3, 0, "text", "sample 1", {"text": "two is 4."}, 0.2),
    Row(4, 0, "spend", None, {"spent": spent(40, 0.001)}, 0.3, 40, 0.001),
    Row(5, 0, "partial", None, {"answer": "4", "confidence": 0.5, "spent": spent(40, 0.001)}, 0.3, 40, 0.001),
    Row(6, 0, "text", "sample 2", {"text": "It is 4."}, 0.4),
    Row(7, 0, "note", "votes", {"label": "votes", "text": "4 ×2", "data": {"4": 2}}, 0.5),
    Row(8, None, "note", "run", {"label": "run", "text": "run-level"}, 0.5),
    Row(9, 7, "text", "ghost", {"text": "no such pane"}, 0.5),
    Row(10, 0, "final", None, {"answer": "4", "stop": "budget", "spent": spent(90, 0.002)}, 0.6, 90, 0.002),
]


def folded() -> RunView:
    view = RunView.for_strategies([("self_consistency", {"samples": 2}), ("direct", {})])
    view.apply(EVENTS)
    return view


def test_the_fold_gathers_each_panes_streams_answers_notes_and_end() -> None:
    view = folded()
    sc, direct = view.panes
    assert {label: s.text for label, s in sc.streams.items()} == {"sample 1": "Two plus two is 4.",
                                                                  "sample 2": "It is 4."}
    assert sc.newest_label == "sample 2"
    assert direct.streams["reasoning"].thinking == "hmm" and direct.streams["reasoning"].text == ""
    assert (sc.best_answer, sc.confidence, sc.best_seq) == ("4", 0.5, 5)
    assert [(n.label, n.text, n.data) for n in sc.notes] == [("votes", "4 ×2", {"4": 2})]
    assert (sc.stop, sc.final_answer, sc.ended, sc.spent.total_tokens) == ("budget", "4", True, 90)
    # direct's thinking arrived and no spend report yet covers it: its call is generating.
    assert sc.status() == "done" and direct.status() == "generating"
    assert direct.status("interrupted", run_active=False) == "interrupted"
    # Run-level events and events of an unknown pane move the cursor but touch no pane.
    assert view.last_seq == 10 and sc.events == 7 and direct.events == 1
    assert view.spend_samples == [
        {"strategy_index": 0, "strategy": "self_consistency", "seconds": 0.3, "tokens": 40, "usd": 0.001},
        {"strategy_index": 0, "strategy": "self_consistency", "seconds": 0.6, "tokens": 90, "usd": 0.002}]
    assert view.end_spends() == [{"strategy_index": 0, "strategy": "self_consistency", "tokens": 90, "usd": 0.002}]


def test_the_fold_reads_each_event_once_in_any_number_of_steps() -> None:
    view = RunView.for_strategies([("self_consistency", {}), ("direct", {})])
    assert view.apply(EVENTS[:3]) == 3
    assert view.apply(EVENTS[:5]) == 2  # the first three again are skipped
    view.apply(EVENTS)
    assert view.panes[0].streams["sample 1"].text == "Two plus two is 4."
    assert [p.streams.keys() for p in view.panes] == [p.streams.keys() for p in folded().panes]
    assert view.spend_samples == folded().spend_samples


def test_a_final_answer_unlike_the_last_partial_replaces_it() -> None:
    view = RunView.for_strategies([("debate", {})])
    view.apply([Row(1, 0, "partial", None, {"answer": "3", "confidence": 0.9}),
                Row(2, 0, "final", None, {"answer": "4", "stop": "done", "error": None})])
    pane = view.panes[0]
    assert (pane.best_answer, pane.confidence, pane.best_seq) == ("4", None, None)


def test_a_failed_strategy_keeps_its_error() -> None:
    view = RunView.for_strategies([("direct", {})])
    view.apply([Row(1, 0, "final", None, {"answer": None, "stop": "error", "error": "HTTP 529 overloaded"})])
    assert view.panes[0].status() == "error" and view.panes[0].error == "HTTP 529 overloaded"
    assert stop_text("error") == "failed" and stop_text("budget") == "budget reached" and stop_text(None) == ""


# ---- what a pane says ----------------------------------------------------------------------------


def test_the_spend_bar_follows_the_cap_closest_to_being_used_up() -> None:
    used = Spend(input_tokens=300, output_tokens=200, usd=0.03, seconds=6.0)
    bar = spend_bar(used, {"total_tokens": 1000, "usd": 0.04, "seconds": None})
    assert bar.fraction == pytest.approx(0.75)
    assert bar.text == "500 tokens / 1,000 tokens · $0.0300 / $0.0400"
    assert spend_bar(used, {"total_tokens": 100}).fraction == 1.0  # overshoot (an estimate) stays on the bar
    assert spend_bar(used, {}) .text == "500 tokens, $0.0300 (no cap)"
    assert spend_bar(Spend(), {"output_tokens": 50, "seconds": 10}).text == "0 output tokens / 50 output tokens · " \
                                                                           "0.0 s / 10.0 s"


def test_confidence_verdict_and_note_data_texts() -> None:
    assert confidence_text(0.666) == "confidence 67%"
    assert confidence_text(None) == confidence_text(math.nan) == "no confidence reported"
    assert [verdict_text(v) for v in (True, False, None)] == ["right", "wrong", ""]
    assert note_data_text({"p": 0.123456, "votes": {"4": 2}}) == "p=0.123, votes={'4': 2}"
    assert note_data_text({f"k{i}": i for i in range(8)}, limit=2) == "k0=0, k1=1, ... 6 more"
    assert note_data_text({"long": "x" * 100}) == "long=" + "x" * 59 + "…"
    assert note_data_text(None) == ""


# ---- model output is shown as text ---------------------------------------------------------------

RENDERER = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")
ALLOWED_TAGS = {"p", "/p", "br /", "br", "code", "/code"}  # URL-like words are code spans


def rendered(text: str) -> str:
    return RENDERER.render(literal_markdown(text))


def visible(html_text: str) -> str:
    """The text a reader sees (whitespace aside)."""
    text = html.unescape(re.sub(r"<[^>]*>", "", html_text))
    return re.sub(r"\s+", "", text.replace("\u00a0", " "))


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", "<b>bold</b> <img src=x onerror=alert(2)>", "**bold** _it_ `code` ~~no~~",
    "[link](http://x.test) ![img](x.png) <http://x.test>", "# heading\n- item\n1. item\n> quote",
    "a | b\n--|--\n1 | 2", "Setext\n===", "$x^2$ and $$y$$", ":material/home: :red[text] :smile:",
    "&amp; &lt;b&gt;", "    indented code\n\tand a tab", "```\nfenced\n```", "line\\\nbreak \\*",
    "see http://x.test/a_b or www.example.com, mail me@example.com",
])
def test_markup_in_model_output_renders_as_the_same_text(text: str) -> None:
    out = rendered(text)
    assert set(re.findall(r"<([^>]*)>", out)) <= ALLOWED_TAGS, out
    assert visible(out) == re.sub(r"\s+", "", text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 \t\n\r<>&*_`[]()!#+-.|\\$~:=\"'^@%{}/;?")), max_size=60))
def test_any_text_renders_as_itself_and_never_as_markup(text: str) -> None:
    out = rendered(text)
    assert set(re.findall(r"<([^>]*)>", out)) <= ALLOWED_TAGS, out
    assert visible(out) == re.sub(r"\s+", "", text.replace("\r", ""))


def test_bare_urls_and_addresses_are_code_spans_not_links_and_hold_no_invisible_character() -> None:
    """GFM links a bare URL or address after resolving escapes, when the character before it is a
    space, punctuation or the start: such words become inline code, which is never linked and
    copies as typed (no invisible word joiner before a URL in an error text any more)."""
    out = literal_markdown("(http://x.test) www.example.com HTTPS://y.test me.too@example.com direct@300")
    assert out == ("\\(`http://x.test)` `www.example.com` `HTTPS://y.test` `me.too@example.com` direct\\@300")
    assert "\u2060" not in out
    assert literal_markdown("see http://x``y`") == "see ``` http://x``y` ```"  # a longer fence, padded
    assert literal_markdown("awww.x") == "awww\\.x"  # after a letter GFM links nothing: plain escapes
    html_out = rendered("error: cannot reach http://localhost:8000/v1 (refused)")
    assert "<code>http://localhost:8000/v1</code>" in html_out and "<a" not in html_out


def test_line_breaks_and_leading_blanks_survive() -> None:
    assert literal_markdown("a\r\n  b") == "a  \n\u00a0\u00a0b"
    assert literal_markdown("a\r\tb") == "a  \n\u00a0\u00a0\u00a0\u00a0b"
    assert literal_markdown("") == literal_markdown(None) == ""


# ---- chart data and specs ----------------------------------------------------------------------


def curve(rows: list[tuple[int, str, int, int, float, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame([{"strategy_index": i, "strategy": s, "seq": seq, "tokens": t, "usd": u, "seconds": 1.0,
                          "answer": a, "quality": q} for i, s, seq, t, u, a, q in rows])


POINTS = curve([(1, "direct", 4, 30, 0.0, "5", 0.0), (0, "sc", 2, 40, 0.001, "4", 1.0),
                (0, "sc", 9, 120, 0.003, "4", 1.0)])
ENDS = pd.DataFrame([{"strategy_index": 0, "strategy": "sc", "tokens": 200, "usd": 0.005},
                     {"strategy_index": 1, "strategy": "direct", "tokens": 30, "usd": 0.0}])


def test_quality_steps_follow_seq_and_reach_each_strategys_final_spend() -> None:
    steps = quality_steps(POINTS, ENDS)
    assert list(steps.columns) == QUALITY_COLUMNS
    assert steps[["series", "tokens", "usd", "quality", "point"]].values.tolist() == [
        ["1. sc", 40, 0.001, 1.0, "answer"],
        ["2. direct", 30, 0.0, 0.0, "answer"],
        ["1. sc", 120, 0.003, 1.0, "answer"],
        ["1. sc", 200, 0.005, 1.0, "end"],  # direct's last answer came with its last token: no end point
    ]
    assert quality_steps(POINTS).point.tolist() == ["answer"] * 3
    assert quality_steps(POINTS.iloc[:0], ENDS).empty


def test_quality_chart_is_a_step_line_per_strategy_with_dots_at_answers() -> None:
    spec = quality_chart(quality_steps(POINTS, ENDS), "usd", quality_title="right (1) or wrong (0)").to_dict()
    line, dots = spec["layer"]
    assert line["mark"]["interpolate"] == "step-after"
    assert line["encoding"]["x"]["field"] == "usd" and line["encoding"]["color"]["field"] == "series"
    assert line["encoding"]["y"]["scale"]["domain"] == [0, 1] and line["encoding"]["x"]["scale"]["zero"]
    assert line["encoding"]["y"]["title"] == "right (1) or wrong (0)"
    assert dots["transform"] == [{"filter": "(datum.point === 'answer')"}]
    (values,) = spec["datasets"].values()
    assert [(v["series"], v["usd"], v["point"]) for v in values] == [
        ("1. sc", 0.001, "answer"), ("2. direct", 0.0, "answer"), ("1. sc", 0.003, "answer"), ("1. sc", 0.005, "end")]
    with pytest.raises(ValueError, match="x must be"):
        quality_chart(quality_steps(POINTS), "seconds")


def test_spend_frame_and_chart_plot_cumulative_spend_over_time() -> None:
    samples = [{"strategy_index": 1, "strategy": "direct", "seconds": 0.5, "tokens": 30, "usd": 0.0},
               {"strategy_index": 0, "strategy": "sc", "seconds": 0.9, "tokens": 120, "usd": 0.003},
               {"strategy_index": 0, "strategy": "sc", "seconds": 0.4, "tokens": 40, "usd": 0.001}]
    frame = spend_frame(samples)
    assert frame.values.tolist() == [["1. sc", 0, 0.0, 0, 0.0], ["1. sc", 0, 0.4, 40, 0.001],
                                     ["1. sc", 0, 0.9, 120, 0.003],
                                     ["2. direct", 1, 0.0, 0, 0.0], ["2. direct", 1, 0.5, 30, 0.0]]
    assert spend_frame([]).empty
    spec = spend_chart(frame, "usd").to_dict()
    line, points = spec["layer"]
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("seconds", "usd")
    assert line["mark"]["interpolate"] == "step-after"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["1. sc", "2. direct"]  # entry order: stable colours
    assert spec["encoding"]["color"]["legend"]["orient"] == "bottom"  # beside, it squeezed a phone's chart
    assert points["encoding"]["shape"]["field"] == "series" and line["encoding"]["strokeDash"]["field"] == "series"
    with pytest.raises(ValueError, match="y must be"):
        spend_chart(frame, "seconds")
    assert series_name(2, "debate") == "3. debate"


# ---- the compare form's pieces -----------------------------------------------------------------


def test_the_fake_provider_is_offered_only_when_the_host_turns_it_on() -> None:
    assert fake_enabled({"BUDGET_ARENA_ENABLE_FAKE": " Yes "}) and not fake_enabled({})
    assert not fake_enabled({"BUDGET_ARENA_ENABLE_FAKE": "0"})
    assert offered_providers(Limits()) == ["local", "gguf", "openai", "compatible", "anthropic"]
    assert offered_providers(Limits(), enable_fake=True)[-1] == "fake"
    pinned = Limits(models=["anthropic:claude-3-5-haiku-latest", "local:smollm2"])
    assert offered_providers(pinned) == ["local", "gguf", "anthropic"]
    assert allowed_models(pinned, "anthropic") == ["claude-3-5-haiku-latest"]
    assert allowed_models(Limits(), "openai") is None


def test_a_typed_key_wins_then_secrets_then_environment_and_compatible_servers_get_no_host_key() -> None:
    env = {"OPENAI_API_KEY": "sk-env"}
    secrets = {"OPENAI_API_KEY": "sk-secret"}
    assert resolve_key("openai", typed=" sk-typed ", secrets=secrets, env=env, allow_host_keys=True) == \
        KeyChoice("sk-typed", "typed")
    assert resolve_key("openai", typed="", secrets=secrets, env=env, allow_host_keys=True).source == "secrets"
    assert resolve_key("openai", typed=None, secrets={}, env=env, allow_host_keys=True).source == "environment"
    assert resolve_key("openai", typed=None, secrets=secrets, env=env, allow_host_keys=False) == KeyChoice(None, "")
    assert resolve_key("compatible", typed=None, secrets=secrets, env=env, allow_host_keys=True).key is None


def test_readiness_says_what_is_missing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.model_picker.local_runtime_missing", lambda: None)
    none = KeyChoice(None, "")
    assert readiness("openai", none).detail == "needs an API key: set OPENAI_API_KEY or enter one below"
    assert readiness("anthropic", KeyChoice("k", "typed")).detail == "ready (key from typed)"
    assert readiness("compatible", none, base_url="ftp://x").detail.startswith("the base URL must start")
    assert readiness("compatible", none, base_url="http://127.0.0.1:8000/v1").detail == "ready (no key sent)"
    assert readiness("gguf", none, gguf_path="").detail == "give the path of a .gguf file"
    assert readiness("gguf", none, gguf_path=str(tmp_path / "no.gguf")).detail.startswith("no file at")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert readiness("gguf", none, gguf_path=str(model)).ready
    monkeypatch.setattr("app.model_picker.local_runtime_missing", lambda: "llama-cpp-python is not installed")
    assert readiness("local", none) == readiness("gguf", none, gguf_path=str(model))
    assert not readiness("local", none).ready


def test_model_choice_builds_the_spec_options_and_secrets_the_runner_gets() -> None:
    assert (model_choice("local").spec, model_choice("local").options) == ("local", {})
    assert model_choice("gguf", gguf_path=" /m.gguf ", threads=1).options == {"n_threads": 1}
    assert model_choice("gguf", gguf_path=" /m.gguf ").spec == "local:/m.gguf"
    assert model_choice("fake", fake_delay=0.2).options == {"replies": FAKE_REPLY, "token_delay": 0.2}
    compatible = model_choice("compatible", model=" qwen ", base_url=" http://127.0.0.1:8000/v1 ")
    assert (compatible.spec, compatible.options, compatible.secrets) == (
        "openai:qwen", {"base_url": "http://127.0.0.1:8000/v1"}, {"api_key": NO_KEY})
    openai = model_choice("openai", model="gpt-4o-mini", key=KeyChoice("sk-1", "typed"))
    assert (openai.spec, openai.options, openai.secrets) == ("openai:gpt-4o-mini", {}, {"api_key": "sk-1"})
    assert "sk-1" not in repr(openai)
    assert model_choice("openai", model=" ", key=KeyChoice("sk-1", "typed")).ready.detail == "name the model"


@pytest.mark.parametrize(("values", "budget", "errors"), [
    ({"total_tokens": 3000, "output_tokens": 0, "usd": 0.0, "seconds": 90.0}, Budget(total_tokens=3000, seconds=90.0),
     []),
    ({"total_tokens": 0, "output_tokens": 0, "usd": 0.0, "seconds": 0.0}, Budget(), []),  # limits decide
    ({"total_tokens": 10.5}, None, ["The total tokens cap must be a whole number, got 10.5."]),
    ({"usd": -1.0, "seconds": math.inf}, None, [
        "The dollars cap must be a positive number (0 means no cap), got -1.",
        "The seconds cap must be a positive number (0 means no cap), got infinity."]),
])
def test_parse_budget(values: dict, budget: Budget | None, errors: list[str]) -> None:
    assert parse_budget(values) == (budget, errors)


def test_ceilings_are_stated_in_words() -> None:
    assert ceilings_text(Limits()) == ""
    assert ceilings_text(Limits(max_total_tokens=5000, max_usd=0.5, max_seconds=60)) == (
        "This server allows at most 5,000 total tokens, $0.5, 60 seconds per strategy; a cap left at 0 gets its "
        "ceiling.")


def test_the_worst_case_cost_is_the_tighter_of_the_dollar_and_token_caps() -> None:
    assert estimate_cost(model_choice("local"), Budget(total_tokens=900), 20, 3).text == "Worst-case cost: $0 (local)"
    openai = model_choice("openai", model="gpt-4o-mini", key=KeyChoice("k", "typed"))
    by_tokens = estimate_cost(openai, Budget(total_tokens=10_000), 100, 2)
    assert by_tokens.per_strategy == pytest.approx(10_000 * 0.6e-6)  # every token at the dearer (output) rate
    assert by_tokens.total == pytest.approx(2 * 10_000 * 0.6e-6)
    assert by_tokens.text.startswith("Worst-case cost: $0.0060 per strategy, $0.0120 for 2 strategies")
    assert estimate_cost(openai, Budget(total_tokens=10_000, usd=0.001), 100, 1).per_strategy == 0.001
    assert estimate_cost(openai, Budget(seconds=10), 100, 1).per_strategy is None
    unknown = estimate_cost(model_choice("openai", model="no-such-model", key=KeyChoice("k", "typed")),
                            Budget(usd=1.0), 10, 1)
    assert unknown.per_strategy is None and unknown.text.startswith("No price is known for openai:no-such-model")


def test_strategy_defaults_titles_and_knob_checks() -> None:
    assert default_strategies(["direct", "debate", "chain_of_thought"]) == ["chain_of_thought", "direct"]
    assert default_strategies(["a", "b", "c", "d"]) == ["a", "b", "c"]
    assert strategy_title("chain_of_thought") == "Chain-of-thought" and strategy_title("nope") == "nope"
    assert check_knobs("self_consistency", {"samples": 4}) is None
    assert check_knobs("self_consistency", {"samples": 0}) == "self_consistency.samples must be at least 1, got 0"
    assert "unknown knob" in (check_knobs("direct", {"width": 3}) or "")


def test_limit_errors_read_as_sentences_and_share_links_point_at_the_app_root() -> None:
    assert sentence(LimitError("the problem is empty")) == "The problem is empty."
    assert sentence(LimitError("try again in about 5 min.")) == "Try again in about 5 min."
    # The root with ?run= (the landing page opens the run page): a link to /run itself made the
    # frontend probe /run/_stcore/health and /host-config first, two 404s per visit.
    assert share_link("http://host:8501/", "abc") == "http://host:8501/?run=abc"
    assert share_link("http://host:8501/run?run=old", "a b") == "http://host:8501/?run=a+b"
    assert share_link("https://h.example/arena/history?x=1#top", "abc") == "https://h.example/arena/?run=abc"
    assert share_link("https://h.example/run/sweep", "abc") == "https://h.example/run/?run=abc"  # a base path "run"
    assert share_link("http://run", "abc") == "http://run/?run=abc"  # a host, not a page
    assert share_link(None, "abc") == "./?run=abc"


@pytest.mark.parametrize(("spec", "offered", "expected"), [
    ("local", ["local", "openai"], ("local", {})),
    ("openai:gpt-4.1-mini", ["local", "openai"], ("openai", {"model.openai": "gpt-4.1-mini"})),
    ("anthropic:claude-haiku-4-5", ["local", "anthropic"], ("anthropic", {"model.anthropic": "claude-haiku-4-5"})),
    ("local:/models/qwen.gguf", ["local", "gguf"], ("gguf", {"gguf": "/models/qwen.gguf"})),
    ("anthropic:claude-haiku-4-5", ["local", "openai"], ("local", {})),  # not offered here: the first one
])
def test_the_configured_default_model_is_the_first_choice(spec, offered, expected) -> None:
    assert default_model_fields(spec, offered) == expected


# ---- live states, provisional spend and stop details -----------------------------------------------


def state(seq: int, call: int, name: str, elapsed: float, tokens: int = 0) -> Row:
    return Row(seq, 0, "state", None, {"call": call, "state": name, "spent": Spend(input_tokens=tokens).as_dict()},
               elapsed)


def test_a_pane_shows_the_most_advanced_state_of_its_calls_and_how_long_the_model_took_to_load() -> None:
    view = RunView.for_strategies([("self_consistency", {})])
    pane = view.panes[0]
    assert pane.status() == "running" and pane.status(run_active=False) == "running"
    view.apply([state(1, 7, "loading model", 0.0)])
    assert pane.status() == "loading model" and pane.state_since == 0.0
    view.apply([state(2, 7, "ended", 8.2), state(3, 8, "queued", 8.3), state(4, 9, "queued", 8.3)])
    assert pane.load_seconds == pytest.approx(8.2) and pane.status() == "queued"
    view.apply([state(5, 8, "reading prompt", 9.0)])
    assert pane.status() == "reading prompt" and pane.state_since == 9.0  # one call reads, one still waits
    view.apply([state(6, 8, "generating", 10.5), state(7, 9, "reading prompt", 10.6)])
    assert pane.status() == "generating" and pane.state_since == 10.5
    view.apply([state(8, 8, "ended", 12.0), state(9, 9, "ended", 12.0)])
    assert pane.calls == {} and pane.status() == "running" and pane.state_since is None
    # A run that is no longer active shows its stored status, whatever its calls last said.
    view.apply([state(10, 10, "generating", 13.0)])
    assert pane.status("interrupted", run_active=False) == "interrupted"
    view.apply([Row(11, 0, "final", None, {"answer": "4", "stop": "budget", "spent": spent(90),
                                           "stop_detail": "stopped: 1,500-token cap"}, 14.0)])
    assert pane.status() == "done" and pane.calls == {} and pane.stop_detail == "stopped: 1,500-token cap"


def words(text: str) -> int:
    return len(text.split())


def test_spend_moves_while_a_call_streams_marked_provisional_and_settles_on_the_report() -> None:
    view = RunView.for_strategies([("chain_of_thought", {})])
    pane = view.panes[0]
    view.apply([state(1, 1, "generating", 0.5, tokens=0)])
    assert shown_spend(pane, words) == (Spend(), False)
    view.apply([Row(2, 0, "text", "reasoning", {"text": "one two three "}, 0.6)])
    shown, provisional = shown_spend(pane, words)
    assert (shown.output_tokens, shown.total_tokens, provisional) == (3, 3, True)
    view.apply([Row(3, 0, "text", "reasoning", {"text": "four five"}, 0.7)])
    assert shown_spend(pane, words)[0].total_tokens == 5  # grows with every delta, between reports
    # The engine's provisional report (prompt + output so far, estimated) replaces the count ...
    provisional_report = Spend(input_tokens=40, output_tokens=5, calls=0, estimated=True)
    view.apply([Row(4, 0, "spend", None, {"spent": provisional_report.as_dict()}, 1.0, 45)])
    assert shown_spend(pane, words) == (provisional_report, True)
    view.apply([Row(5, 0, "text", "reasoning", {"text": " six"}, 1.1)])
    assert shown_spend(pane, words)[0].total_tokens == 46
    # ... a call state carrying the older settled spend does not take tokens back ...
    view.apply([state(6, 2, "queued", 1.2, tokens=0)])
    assert shown_spend(pane, words)[0].total_tokens == 46
    # ... and the settled report ends the estimate: exact figures, no ≈.
    settled = Spend(input_tokens=38, output_tokens=6, calls=1)
    view.apply([Row(7, 0, "spend", None, {"spent": settled.as_dict()}, 1.3, 44)])
    assert shown_spend(pane, words) == (settled, False)
    bar = spend_bar(*[shown_spend(pane, words)[0]], {"total_tokens": 3000}, provisional=True)
    assert bar.text == "≈ 44 tokens / 3,000 tokens"
    assert spend_bar(Spend(input_tokens=1), {}).text == "1 token, $0.0000 (no cap)"  # singular


# ---- words and numbers ---------------------------------------------------------------------------


def test_counts_take_their_plural_and_numbers_never_an_exponent() -> None:
    assert [plural(n, "strategy") for n in (0, 1, 2)] == ["0 strategies", "1 strategy", "2 strategies"]
    assert plural(1, "token") == "1 token" and plural(1500, "token") == "1,500 tokens"
    assert plural(3, "entry") == "3 entries" and plural(2, "budget") == "2 budgets"
    assert number_text(1e12) == "1,000,000,000,000" and "e+" not in number_text(1.5e15)
    assert number_text(2.5) == "2.5" and number_text(0.00012) == "0.00012" and number_text(90.0) == "90"
    assert number_text(float("inf")) == "infinity"


# ---- the strategy views --------------------------------------------------------------------------


async def fold_run(name: str, model: Any, budget: Budget, **knobs: Any) -> RunView:
    """A strategy run on a fake model, its events stored as the recorder stores them, folded."""
    from reasoning.events import event_to_dict
    from reasoning.run import run
    from reasoning.strategies import make_strategy

    events = [e async for e in run(make_strategy(name, **knobs), "Pick the best branch.", model, budget)]
    view = RunView.for_strategies([(name, knobs)])
    view.apply(Row(i + 1, 0, e.kind, getattr(e, "label", None), event_to_dict(e), 0.01 * i)
               for i, e in enumerate(events))
    return view


async def test_the_value_tree_is_drawn_from_its_notes_live_and_at_the_end() -> None:
    from reasoning.models.fake import FakeModel
    from tests.reasoning.test_strategies_search import SCORES, Scripted

    view = await fold_run("value_tree", FakeModel(replies=Scripted(SCORES)), Budget(total_tokens=1400), depth=3)
    pane = view.panes[0]
    tree = search_tree(pane)
    assert tree is not None and tree.final
    final = next(n for n in pane.notes if n.label == "tree").data
    assert tree.best_path == final["best_path"] and tree.best_path[0] == "root"
    by_id = {n["id"]: n for n in final["nodes"]}
    assert set(tree.nodes) == set(by_id)
    for node_id, node in tree.nodes.items():
        if node_id != "root":
            assert (node.reward, node.value, node.allocated) == (by_id[node_id]["R"], by_id[node_id]["V"],
                                                                 by_id[node_id]["allocated"])
            assert node.expanded == by_id[node_id]["expanded"] and node.text == by_id[node_id]["step"]
    # The root's children: A expanded, C's share too small for an expansion (see the allocation test).
    assert tree.nodes["1"].status == EXPANDED and tree.nodes["3"].status == PRUNED
    dot = tree_dot(tree)
    assert dot.count("->") == len(tree.nodes) - 1
    assert f'"node-{tree.best_path[-1]}"' in dot and "B " in dot and "V " in dot
    assert dot.count("penwidth=2.5") == 2 * len(tree.best_path) - 1  # best nodes and the edges between them

    # Live: after the first expansion note only, the root's children and the path argmax V follows now.
    live = RunView.for_strategies([("value_tree", {})])
    first = next(i for i, n in enumerate(pane.notes) if n.label == "expand root")
    live.panes[0].notes = pane.notes[: first + 1]
    early = search_tree(live.panes[0])
    assert early is not None and not early.final
    assert set(early.nodes) == {"root", "1", "2", "3"} and early.best_path[:1] == ["root"]
    assert early.nodes["1"].status == WAITING  # to be expanded: its share buys an expansion


async def test_tree_of_thoughts_marks_the_beam_and_the_best_state() -> None:
    from reasoning.models.fake import FakeModel
    from tests.reasoning.test_strategies_search import SCORES, Scripted

    view = await fold_run("tree_of_thoughts", FakeModel(replies=Scripted(SCORES)), Budget(), max_depth=2,
                          breadth=3, beam=1)
    tree = search_tree(view.panes[0])
    assert tree is not None and tree.final
    best = next(n for n in view.panes[0].notes if n.label == "tree").data["best"]
    assert tree.best_path[-1] == best and tree.best_path[0] == "root"
    depth1 = next(n for n in view.panes[0].notes if n.label == "depth 1").data
    dropped = set(depth1["scores"]) - set(depth1["kept"])
    assert dropped and all(tree.nodes[i].status == DROPPED for i in dropped)
    assert all(tree.nodes[i].allocated == depth1["step_tokens"] for i in depth1["scores"])
    assert tree.nodes["1"].text.startswith("Consider A")  # the proposal's text, from its stream


def test_model_text_in_a_tree_stays_text() -> None:
    hostile = 'x"]; evil [label="pwned" URL="http://x.test"]; "\\N\\G <script>alert(1)</script> &lt;b&gt;\n'
    assert dot_string(hostile) == ('"x\\"]; evil [label=\\"pwned\\" URL=\\"http://x.test\\"]; \\"\\\\N\\\\G '
                                   '<script>alert(1)</script> &amp;lt;b&amp;gt;\\n"')
    pane = RunView.for_strategies([("value_tree", {})]).panes[0]
    pane.notes.append(NoteView("expand root", "", {
        "node": "root", "depth": 0, "expanding": [], "depth_limit": 3, "expansion_tokens": 100,
        "children": [{"id": "1", "parent": "root", "depth": 1, "step": hostile, "R": 0.5, "V": 0.5,
                      "allocated": 10, "answer": None, "expanded": False}]}, 1))
    tree = search_tree(pane)
    assert tree is not None
    dot = tree_dot(tree)
    # Every quote in the DOT is a delimiter or escaped: the text adds no node, edge or attribute.
    unescaped = re.sub(r'\\.', "", dot)
    assert all(line.count('"') % 2 == 0 for line in unescaped.splitlines())
    assert "URL=" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot) and dot.count("->") == 1
    assert tree.nodes["1"].status == PRUNED


async def test_debate_anytime_and_self_consistency_views_read_their_notes() -> None:
    from reasoning.models.fake import FakeModel

    debate = await fold_run("debate", FakeModel(replies=["Answer: 4", "Answer: 5", "Answer: 4"]), Budget(),
                            agents=3, rounds=2)
    grid = debate_grid(debate.panes[0].notes)
    assert list(grid.columns) == ["round", "agent A", "agent B", "agent C", "votes", "leader"]
    assert grid["round"].tolist()[0] == 1 and grid.iloc[0][["agent A", "agent B", "agent C"]].tolist() == \
        ["4", "5", "4"]
    assert grid.iloc[0]["leader"] == "4" and grid.iloc[0]["votes"] == "4 ×2, 5 ×1"

    sc = await fold_run("self_consistency", FakeModel(replies=["Answer: 4", "Answer: 5", "Answer: 4"]), Budget(),
                        stop_rule="fixed", samples=3, batch_size=1)
    tally = vote_tally(sc.panes[0].notes)
    assert tally.groupby("sample")["votes"].sum().tolist() == [1, 2, 3]  # one vote per sample
    assert tally[tally["sample"] == 3].set_index("answer")["votes"].to_dict() == {"4": 2, "5": 1}
    assert [tally_chart(tally).to_dict()["encoding"][c]["field"] for c in ("x", "y", "color")] == ["sample", "votes", "answer"]

    reasoning = " ".join(["step"] * 300)
    anytime = await fold_run("anytime", FakeModel(replies=lambda m, i: "7" if "scale of 1 to 10" in
                                                  m[-1]["content"] else reasoning + " Answer: 4"),
                             Budget(), first_checkpoint=32, max_checkpoint=128, epsilon=0.05)
    frame = anytime_frame(anytime.panes[0].notes)
    assert frame["b (tokens)"].tolist()[:2] == [32, 64] and (frame["ε"] == 0.05).all()
    checkpoints = [n.data for n in anytime.panes[0].notes if n.label.startswith("checkpoint ")]
    assert frame["Q(b)"].tolist() == [c["quality"] for c in checkpoints]
    assert frame["stop"].tolist()[-1] == ("stop (gain < ε)" if checkpoints[-1]["stop"] else "go on")


# ---- the run summary -----------------------------------------------------------------------------


def test_the_summary_names_the_right_answers_at_the_least_spend_and_copies_as_markdown() -> None:
    view = RunView.for_strategies([("direct", {}), ("chain_of_thought", {}), ("debate", {})],
                                  ["direct", "chain_of_thought", "debate"])
    finals = [("4", Spend(input_tokens=10, output_tokens=5, calls=1), None),
              ("4 | or | 5\nmaybe", Spend(input_tokens=100, output_tokens=200, calls=1),
               "stopped: 300-token cap"),
              ("4", Spend(input_tokens=10, output_tokens=5, calls=3), None)]
    for i, (answer, used, detail) in enumerate(finals):
        view.apply([Row(i + 1, i, "final", None, {"answer": answer, "stop": "budget" if detail else "done",
                                                  "spent": used.as_dict(), "stop_detail": detail})])
    budget = {"total_tokens": 300}
    rows = [entry_row(p, p.label, p.status(), budget, correct) for p, correct in
            zip(view.panes, (True, False, True), strict=True)]
    assert cheapest_right(rows) == {0: ["tokens"], 2: ["tokens"]}  # a tie: both
    records = summary_records(rows, has_reference=True)
    assert [r["right?"] for r in records] == ["right", "wrong", "right"]
    assert [r["tokens"] for r in records] == ["15 / 300", "300 / 300", "15 / 300"]
    assert [r["stop"] for r in records] == ["answered", "stopped at its cap (300-token cap)", "answered"]
    assert [r["least spend, right"] for r in records] == ["tokens", "", "tokens"]
    assert "output tokens" not in records[0]  # no entry caps them
    table = markdown_table(records)
    lines = table.splitlines()
    assert len(lines) == 5 and all(line.startswith("| ") or line.startswith("|-") for line in lines)
    assert "4 \\| or \\| 5 maybe" in lines[3]  # pipes escaped, the line break a space: one row
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in lines}) == 1  # as many cells in every row
    assert summary_headline(rows, has_reference=True) == \
        "3 entries: 2 answered, 1 stopped at a cap · 2 right · right at the least tokens: direct, debate"
    no_reference = summary_records(rows, has_reference=False)
    assert "right?" not in no_reference[0] and no_reference[0][MEASURE_COLUMN] == "no confidence reported"


def test_eleven_series_get_eleven_distinct_looks() -> None:
    names = [f"{i + 1}. s{i}" for i in range(11)]
    color, shape, dash = series_encoding(names)
    colors, shapes = color.to_dict()["scale"]["range"], shape.to_dict()["scale"]["range"]
    assert len(set(colors)) == 11 and len(set(zip(colors, shapes, strict=True))) == 11
    assert len({(c, s, tuple(d)) for c, s, d in zip(colors, shapes, dash.to_dict()["scale"]["range"],
                                                     strict=True)}) == 11


def test_the_pareto_charts_point_size_is_ordinal_so_vega_lite_does_not_warn() -> None:
    """A nominal size channel made Vega-Lite warn "Channel size should not be used with an unsorted
    discrete field" in the browser's console."""
    from app.leaderboard_charts import pareto_chart

    board = pd.DataFrame({"strategy": ["a", "b"], "model": ["m", "m"], "mean_tokens": [100.0, 300.0],
                          "accuracy": [0.5, 0.8], "ci_low": [0.3, 0.6], "ci_high": [0.7, 0.9],
                          "on_frontier": [True, False]})
    sizes = [layer["encoding"]["size"] for layer in pareto_chart(board).to_dict()["layer"]
             if "size" in layer.get("encoding", {})]
    assert sizes and all(s["type"] == "ordinal" and s["sort"] for s in sizes)


def test_the_cost_line_asks_for_a_model_name_before_it_prices_anything() -> None:
    unnamed = model_choice("openai", model=" ", key=KeyChoice("k", "typed"))
    assert estimate_cost(unnamed, Budget(usd=1.0), 10, 1).text == "Name the model to see its price and worst-case cost."


def test_a_running_entrys_row_marks_a_provisional_spend() -> None:
    view = RunView.for_strategies([("chain_of_thought", {})])
    view.apply([Row(1, 0, "text", "reasoning", {"text": "one two three"}, 0.2)])
    pane = view.panes[0]
    spent, provisional = shown_spend(pane, words)
    row = entry_row(pane, "Chain-of-thought", pane.status(), {"total_tokens": 300}, None, spent, provisional)
    [record] = summary_records([row], has_reference=True)
    assert (record["tokens"], record["answer"], record["right?"], record["stop"]) == ("≈ 3 / 300", "…", "–",
                                                                                     "generating")
