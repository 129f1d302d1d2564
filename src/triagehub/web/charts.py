"""Geometry of the server-rendered SVG charts (the templates draw them; no script needed).

Each chart is a plain value: bars and polylines in the SVG's own coordinates, axis labels, a
title and a description for assistive technology, and the data as rows for the table that
follows every chart (``<details>``: the numbers behind it, readable without the picture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH = 640
HEIGHT = 180
LEFT = 36
RIGHT = 8
TOP = 10
BOTTOM = 24


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    series: str = "a"


@dataclass(frozen=True, slots=True)
class Line:
    points: str
    series: str
    name: str
    dots: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    desc: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    x_labels: tuple[tuple[float, str], ...] = ()
    y_ticks: tuple[tuple[float, str], ...] = ()
    legend: tuple[tuple[str, str], ...] = ()  # (series, name)
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = field(default=())
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.rows


def _nice_max(value: float) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return int(math.ceil(top))  # noqa: RUF046 (ceil of a float product)
    return math.ceil(value)


def _ticks(top: int, scale: float) -> tuple[tuple[float, str], ...]:
    return tuple((HEIGHT - BOTTOM - v * scale, str(v)) for v in (0, top // 2, top))


def _day_label(day: date, n: int, total: int) -> str | None:
    every = max(1, math.ceil(total / 8))
    if n % every and n != total - 1:
        return None
    return day.strftime("%b %d").replace(" 0", " ")


def _bar(x: float, slot: float, h: float, label: str) -> Bar:
    """The bar of one day: its slot starts at ``x``; ``h`` high, from the bottom of the plot."""
    return Bar(
        round(x + slot * 0.15, 1),
        round(HEIGHT - BOTTOM - h, 1),
        round(max(1.0, slot * 0.7), 1),
        round(h, 1),
        label,
    )


def daily_bars(title: str, days: Sequence[tuple[date, int]], *, unit: str) -> Chart:
    """One bar per day (``unit``: what is counted, for the labels)."""
    total = len(days)
    top = _nice_max(max((n for _, n in days), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, total)
    scale = plot_h / top
    bars = []
    labels = []
    for n, (day, value) in enumerate(days):
        x = LEFT + n * slot
        h = value * scale
        bars.append(_bar(x, slot, h, f"{day.isoformat()}: {value} {unit}"))
        text = _day_label(day, n, total)
        if text:
            labels.append((round(x + slot / 2, 1), text))
    peak = max(days, key=lambda d: d[1], default=None)
    summary = sum(n for _, n in days)
    desc = (
        f"{summary} {unit} over {total} days"
        + (f", most on {peak[0].isoformat()} ({peak[1]})" if peak and peak[1] else "")
        + "."
    )
    return Chart(
        title=title,
        desc=desc,
        bars=tuple(bars),
        x_labels=tuple(labels),
        y_ticks=_ticks(top, scale),
        legend=(("a", unit),),
        columns=("day", unit),
        rows=tuple((d.isoformat(), str(v)) for d, v in days),
    )


def trend_chart(title: str, days: Sequence[tuple[date, int, int, int]]) -> Chart:
    """Failures per day as bars, new issues and resolutions as lines."""
    total = len(days)
    top = _nice_max(max((max(f, n, r) for _, f, n, r in days), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, total)
    scale = plot_h / top
    bars = []
    labels = []
    new_points: list[tuple[float, float, str]] = []
    resolved_points: list[tuple[float, float, str]] = []
    for n, (day, failures, new, resolved) in enumerate(days):
        x = LEFT + n * slot
        centre = round(x + slot / 2, 1)
        h = failures * scale
        bars.append(_bar(x, slot, h, f"{day.isoformat()}: {failures} failures"))
        new_points.append(
            (centre, round(HEIGHT - BOTTOM - new * scale, 1), f"{day}: {new} new issues")
        )
        resolved_points.append(
            (centre, round(HEIGHT - BOTTOM - resolved * scale, 1), f"{day}: {resolved} resolved")
        )
        text = _day_label(day, n, total)
        if text:
            labels.append((centre, text))

    def line(points: list[tuple[float, float, str]], series: str, name: str) -> Line:
        return Line(" ".join(f"{x},{y}" for x, y, _ in points), series, name, tuple(points))

    sums = [sum(d[1] for d in days), sum(d[2] for d in days), sum(d[3] for d in days)]
    return Chart(
        title=title,
        desc=(
            f"Over {total} days: {sums[0]} failures, {sums[1]} new issues, {sums[2]} resolutions."
        ),
        bars=tuple(bars),
        lines=(
            line(new_points, "b", "new issues"),
            line(resolved_points, "c", "resolved"),
        ),
        x_labels=tuple(labels),
        y_ticks=_ticks(top, scale),
        legend=(("a", "failures"), ("b", "new issues"), ("c", "resolved")),
        columns=("day", "failures", "new issues", "resolved"),
        rows=tuple((d.isoformat(), str(f), str(n), str(r)) for d, f, n, r in days),
    )


def sparkline(values: Sequence[int], *, width: int = 120, height: int = 28) -> Line | None:
    """A small line of daily values (None without any)."""
    if not values:
        return None
    top = max(max(values), 1)
    step = width / max(1, len(values) - 1)
    points = [
        (round(n * step, 1), round(height - 2 - v / top * (height - 4), 1), str(v))
        for n, v in enumerate(values)
    ]
    return Line(" ".join(f"{x},{y}" for x, y, _ in points), "a", "failures per day", tuple(points))


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    w: float
    series: str
    label: str
    value: int


def stacked_bar(parts: Sequence[tuple[str, int]], *, width: int = WIDTH) -> tuple[Segment, ...]:
    """One horizontal bar split by share (``parts``: (name, count)); series ``s0``, ``s1``..."""
    total = sum(n for _, n in parts)
    if not total:
        return ()
    out = []
    x = 0.0
    for n, (name, value) in enumerate(parts):
        w = width * value / total
        if value:
            out.append(Segment(round(x, 1), round(w, 1), f"s{n}", name, value))
        x += w
    return tuple(out)
