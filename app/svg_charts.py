"""Small static SVG charts for the self-contained HTML files (a run, a leaderboard report).

The app draws with Altair/Vega, whose JavaScript would have to be fetched from a CDN or inlined
(about 1 MB); an exported file must open with no network and stay small, so these charts are
drawn here as plain SVG: lines (optionally as steps), confidence bands, points, vertical rules and
labels on a linear or log10 x axis. Every text (titles, legend names, tooltips) is XML-escaped,
so a strategy name or answer from an imported run stays text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

# Vega's tableau10: the colours the app's charts use, so a file looks like the page it came from.
PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#bab0ac")
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 30, 46
LEGEND_ROW = 18
LEGEND_SWATCH = 17  # the swatch and its gap before the name, px
# Width of one character of the 11 px legend font, px: a wide estimate (capitals, sans-serif), so a
# name laid out in a column never runs into the next one.
LEGEND_CHAR = 7.0


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def number_text(value: float, unit: str = "") -> str:
    """Compact axis text: 1.5k, 2M, $0.0012, 45%, 12 s."""
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "$":
        return f"${value:.2g}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"
    if unit == "s":
        return f"{value:g} s"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) spanning [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda candidate: abs(candidate - raw))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten in [low, high]; 2x and 5x between them when there would be fewer than three."""
    if low <= 0 or high <= 0:
        return []
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for multipliers in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10**p for p in range(first, last + 1) for m in multipliers if low <= m * 10**p <= high]
        if len(ticks) >= 3:
            return ticks
    return ticks or [low, high]


@dataclass
class _Mark:
    kind: str  # line, band, points, rule, label
    xs: list[float]
    ys: list[float]
    color: str
    extra: dict = field(default_factory=dict)


@dataclass
class SvgChart:
    """A chart built by adding marks in data coordinates, rendered to one <svg> element."""

    title: str
    x_title: str
    y_title: str
    log_x: bool = False
    x_unit: str = ""
    y_unit: str = ""
    y_domain: tuple[float, float] | None = None
    x_ticks: Sequence[float] | None = None  # default: round values (log: powers of ten)
    width: int = 640
    height: int = 300
    marks: list[_Mark] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)

    def line(self, xs: Sequence[float], ys: Sequence[float], color: str, *, step: bool = False,
             dash: str | None = None, width: float = 2.0) -> None:
        self._add("line", xs, ys, color, step=step, dash=dash, width=width)

    def band(self, xs: Sequence[float], lows: Sequence[float], highs: Sequence[float], color: str) -> None:
        self._add("band", xs, lows, color, highs=[float(v) for v in highs])

    def points(self, xs: Sequence[float], ys: Sequence[float], color: str, *, shape: str = "circle",
               size: float = 4.0, tips: Sequence[str] | None = None, filled: bool = True) -> None:
        self._add("points", xs, ys, color, shape=shape, size=size, tips=list(tips or []), filled=filled)

    def rule(self, x: float, y1: float, y2: float, color: str) -> None:
        self._add("rule", [x, x], [y1, y2], color)

    def label(self, x: float, y: float, text: str, color: str = "#333") -> None:
        self._add("label", [x], [y], color, text=text)

    def _add(self, kind: str, xs: Sequence[float], ys: Sequence[float], color: str, **extra: object) -> None:
        keep = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if self._usable(x) and _finite(y)]
        if kind == "band":
            highs = extra["highs"]
            keep = [i for i in keep if _finite(highs[i])]  # type: ignore[index]
            extra["highs"] = [highs[i] for i in keep]  # type: ignore[index]
        if kind == "points" and extra.get("tips"):
            extra["tips"] = [extra["tips"][i] for i in keep]  # type: ignore[index]
        if keep:
            self.marks.append(_Mark(kind, [float(xs[i]) for i in keep], [float(ys[i]) for i in keep], color, extra))

    def _usable(self, x: float) -> bool:
        return _finite(x) and (not self.log_x or x > 0)  # a log axis has no place for 0 or less

    # ---- rendering ------------------------------------------------------------------------

    def legend_layout(self) -> tuple[int, int]:
        """Legend columns (3, 2 or 1: as many as the longest name allows) and the characters a name
        may take in one before it is clipped with "…" (its full text stays in a tooltip)."""
        span = self.width - MARGIN_LEFT - MARGIN_RIGHT
        longest = max((len(name) for name, _ in self.legend), default=0)
        for columns in (3, 2, 1):
            chars = int((span / columns - LEGEND_SWATCH - 8) / LEGEND_CHAR)
            if longest <= chars:
                return columns, chars
        return 1, chars

    def render(self) -> str:
        columns, chars = self.legend_layout()
        legend_rows = math.ceil(len(self.legend) / columns)
        height = self.height + legend_rows * LEGEND_ROW
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {self.width} {height}" '
                 f'width="{self.width}" height="{height}" role="img" aria-label="{_attr(self.title)}">',
                 f'<text x="{MARGIN_LEFT}" y="18" class="chart-title">{_text(self.title)}</text>']
        if not self.marks:
            parts.append(f'<text x="{self.width / 2}" y="{self.height / 2}" text-anchor="middle" class="muted">'
                         "no data</text></svg>")
            return "".join(parts)
        x_of, y_of, x_ticks, y_ticks = self._scales()
        left, right = MARGIN_LEFT, self.width - MARGIN_RIGHT
        top, bottom = MARGIN_TOP, self.height - MARGIN_BOTTOM
        for tick in y_ticks:
            y = y_of(tick)
            parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                         f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                         f"{_text(number_text(tick, self.y_unit))}</text>")
        for tick in x_ticks:
            x = x_of(tick)
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" class="grid"/>'
                         f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">'
                         f"{_text(number_text(tick, self.x_unit))}</text>")
        parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="frame"/>')
        parts.append(f'<text x="{(left + right) / 2}" y="{bottom + 36}" text-anchor="middle" class="axis-title">'
                     f"{_text(self.x_title)}</text>")
        parts.append(f'<text transform="translate(14 {(top + bottom) / 2}) rotate(-90)" text-anchor="middle" '
                     f'class="axis-title">{_text(self.y_title)}</text>')
        for mark in sorted(self.marks, key=lambda m: ("band", "rule", "line", "points", "label").index(m.kind)):
            parts.append(self._mark(mark, x_of, y_of))
        column = (right - left) / columns
        for i, (name, swatch) in enumerate(self.legend):
            x = left + (i % columns) * column
            y = self.height + (i // columns) * LEGEND_ROW + 4
            tip = f"<title>{_text(name)}</title>" if len(name) > chars else ""
            # Each entry in its own viewport, which clips: wide glyphs ("WWW") stop at the column's edge.
            parts.append(f'<svg x="{x:.1f}" y="{y - 12}" width="{column - 6:.1f}" height="{LEGEND_ROW}" '
                         f'overflow="hidden"><rect x="0" y="3" width="12" height="12" fill="{_attr(swatch)}"/>'
                         f'<text x="{LEGEND_SWATCH}" y="13" class="legend">{tip}{_text(_clip(name, chars))}</text>'
                         "</svg>")
        parts.append("</svg>")
        return "".join(parts)

    def _scales(self) -> tuple[Callable[[float], float], Callable[[float], float], list[float], list[float]]:
        xs = [x for m in self.marks for x in m.xs]
        ys = [y for m in self.marks for y in m.ys] + [h for m in self.marks for h in m.extra.get("highs", [])]
        x_low, x_high = min(xs), max(xs)
        if self.y_domain is not None:
            y_low, y_high = self.y_domain
        else:
            y_low, y_high = min(0.0, min(ys)), max(ys)
        if y_high <= y_low:
            y_high = y_low + 1
        left, right = MARGIN_LEFT + 10, self.width - MARGIN_RIGHT - 10  # points off the frame
        top, bottom = MARGIN_TOP + 6, self.height - MARGIN_BOTTOM
        if self.log_x:
            lo, hi = math.log10(x_low), math.log10(x_high)
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            ticks = list(self.x_ticks) if self.x_ticks is not None else log_ticks(10**lo, 10**hi)

            def x_of(value: float) -> float:
                return left + (math.log10(value) - lo) / (hi - lo) * (right - left)
        else:
            lo, hi = min(0.0, x_low), x_high
            if hi <= lo:
                hi = lo + 1
            ticks = list(self.x_ticks) if self.x_ticks is not None else nice_ticks(lo, hi)

            def x_of(value: float) -> float:
                return left + (value - lo) / (hi - lo) * (right - left)

        def y_of(value: float) -> float:
            return bottom - (value - y_low) / (y_high - y_low) * (bottom - top)

        if self.log_x:
            ticks = [t for t in ticks if t > 0 and 10**lo * (1 - 1e-9) <= t <= 10**hi * (1 + 1e-9)]
        else:
            ticks = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
        return x_of, y_of, ticks, nice_ticks(y_low, y_high, 4)

    def _mark(self, mark: _Mark, x_of: Callable[[float], float], y_of: Callable[[float], float]) -> str:
        stroke = _attr(mark.color)
        if mark.kind == "line":
            coords = [(x_of(x), y_of(y)) for x, y in zip(mark.xs, mark.ys, strict=True)]
            if mark.extra.get("step"):
                stepped = coords[:1]
                for x, y in coords[1:]:
                    stepped += [(x, stepped[-1][1]), (x, y)]
                coords = stepped
            dash = f' stroke-dasharray="{_attr(mark.extra["dash"])}"' if mark.extra.get("dash") else ""
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            return (f'<polyline points="{points}" fill="none" stroke="{stroke}" '
                    f'stroke-width="{mark.extra.get("width", 2)}"{dash}/>')
        if mark.kind == "band":
            upper = [(x_of(x), y_of(h)) for x, h in zip(mark.xs, mark.extra["highs"], strict=True)]
            lower = [(x_of(x), y_of(y)) for x, y in zip(mark.xs, mark.ys, strict=True)]
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
            return f'<polygon points="{points}" fill="{stroke}" fill-opacity="0.18" stroke="none"/>'
        if mark.kind == "rule":
            x = x_of(mark.xs[0])
            return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_of(mark.ys[0]):.1f}" y2="{y_of(mark.ys[1]):.1f}" '
                    f'stroke="{stroke}" stroke-opacity="0.6" stroke-width="2"/>')
        if mark.kind == "label":
            return (f'<text x="{x_of(mark.xs[0]) + 9:.1f}" y="{y_of(mark.ys[0]) - 9:.1f}" class="mark-label" '
                    f'fill="{stroke}">{_text(_clip(mark.extra["text"], 40))}</text>')
        out = []
        size, tips = mark.extra.get("size", 4.0), mark.extra.get("tips") or []
        fill = stroke if mark.extra.get("filled", True) else "white"
        for i, (x, y) in enumerate(zip(mark.xs, mark.ys, strict=True)):
            cx, cy = x_of(x), y_of(y)
            tip = f"<title>{_text(tips[i])}</title>" if i < len(tips) else ""
            if mark.extra.get("shape") == "diamond":
                d = size * 1.6
                out.append(f'<polygon points="{cx:.1f},{cy - d:.1f} {cx + d:.1f},{cy:.1f} {cx:.1f},{cy + d:.1f} '
                           f'{cx - d:.1f},{cy:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.5">{tip}</polygon>')
            else:
                out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{size}" fill="{fill}" stroke="{stroke}" '
                           f'stroke-width="1.5">{tip}</circle>')
        return "".join(out)


CHART_CSS = """
svg.chart { max-width: 100%; height: auto; font: 12px system-ui, sans-serif; }
svg.chart .chart-title { font-weight: 600; font-size: 13px; }
svg.chart .grid { stroke: #e6e6e6; }
svg.chart .frame { fill: none; stroke: #bbb; }
svg.chart .tick, svg.chart .legend, svg.chart .mark-label { fill: #444; font-size: 11px; }
svg.chart .axis-title { fill: #333; }
svg.chart .muted { fill: #888; }
"""


def _finite(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str:
    return escape(str(value), quote=False)


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
