"""Server-side SVG bar charts: geometry computed here, markup drawn by templates/_charts.html (autoescaped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    label_x: float


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    baseline: float
    bars: list[Bar]
    max_label: str
    show_every: int  # label every n-th bar so long series stay readable


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float], *, width: int = 640, height: int = 200,
    fmt: str = "{:g}",
) -> BarChart:
    top, bottom, left, right = 16.0, 28.0, 8.0, 8.0
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(values, default=0) or 1
    n = max(len(values), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.75, 1.0)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / peak
        x = left + i * slot + (slot - bar_w) / 2
        bars.append(Bar(round(x, 1), round(top + plot_h - h, 1), round(bar_w, 1), round(h, 1), label,
                        fmt.format(value), round(x + bar_w / 2, 1)))
    return BarChart(title, width, height, top + plot_h, bars, fmt.format(max(values, default=0)),
                    max(1, -(-n // 12)))
