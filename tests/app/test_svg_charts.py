"""The HTML files' SVG charts: legend names never run into the next column, and a clipped name
keeps its full text (escaped) in a tooltip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.svg_charts import LEGEND_CHAR, SvgChart, color

SVG = "{http://www.w3.org/2000/svg}"


def with_legend(names: list[str]) -> tuple[SvgChart, list[ET.Element]]:
    """The chart and its legend entries (each a nested <svg> holding a swatch and a name)."""
    chart = SvgChart("title", "x", "y")
    chart.line([1, 2], [0.2, 0.4], color(0))
    chart.legend = [(name, color(i)) for i, name in enumerate(names)]
    root = ET.fromstring(chart.render())
    return chart, [box for box in root.iter(f"{SVG}svg") if box.find(f"{SVG}text[@class='legend']") is not None]


def shown(entry: ET.Element) -> str:
    text = entry.find(f"{SVG}text")
    title = text.find(f"{SVG}title")
    return text.text or "" if title is None else title.tail or ""


@pytest.mark.parametrize(("names", "columns"), [
    (["direct@150", "self_consistency@300", "debate@600"], 3),
    ([f"{i}. self_consistency (k=8)@{i}00" for i in range(4)], 2),
    ([f"{i}. tree_of_thoughts (breadth=3, depth=4, evaluator=vote, temperature=0.7)@{i}" for i in range(3)], 1),
])
def test_legend_names_stay_in_their_column(names: list[str], columns: int) -> None:
    chart, entries = with_legend(names)
    assert chart.legend_layout()[0] == columns
    starts = sorted({float(e.get("x")) for e in entries})
    assert len(starts) == min(columns, len(names))
    for entry in entries:
        x, width = float(entry.get("x")), float(entry.get("width"))
        following = min([s for s in starts if s > x], default=float(chart.width))
        # Each entry clips to its box (a glyph wider than guessed cannot overlap), and the box ends
        # before the next column; a name's estimated width fits its box.
        assert entry.get("overflow") == "hidden" and x + width < following
        assert 17 + len(shown(entry)) * LEGEND_CHAR <= width, shown(entry)
    assert [shown(e) for e in entries] == names  # nothing clipped: each fits


def test_a_name_too_long_for_one_column_is_clipped_with_its_full_text_in_a_tooltip() -> None:
    name = "<b>plugin</b> " + "x" * 200
    chart, [entry] = with_legend([name])
    title = entry.find(f"{SVG}text/{SVG}title")
    assert title is not None and title.text == name  # escaped in the file, the same text once parsed
    assert shown(entry).endswith("…") and len(shown(entry)) == chart.legend_layout()[1]
    assert "<b>" not in chart.render()
