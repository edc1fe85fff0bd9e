"""The terminal's equity chart: curves drawn in text, one mark and colour per curve."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.text import Text

CHART_COLOURS = ["bright_white", "cyan", "magenta", "yellow", "green", "red"]


CHART_MARKS = ["#", "*", "o", "+", "x", "%"]


def equity_chart(equity: pd.DataFrame, columns: list[str], width: int, height: int = 14) -> Text:
    """A plain-character line chart of several equity curves; one mark and colour per curve."""
    width = max(20, width)
    plot_w = width - 12
    data = equity[columns].dropna(how="all")
    lo, hi = float(np.nanmin(data.to_numpy())), float(np.nanmax(data.to_numpy()))
    if not math.isfinite(lo) or hi <= lo:
        hi = lo + 1.0
    grid = [[" "] * plot_w for _ in range(height)]
    colours = [[""] * plot_w for _ in range(height)]
    n = len(data)
    for k, col in enumerate(columns):
        values = data[col].to_numpy()
        for x in range(plot_w):
            v = values[min(n - 1, int(x * n / plot_w))]
            if not math.isfinite(v):
                continue
            y = int(round((v - lo) / (hi - lo) * (height - 1)))
            grid[height - 1 - y][x] = CHART_MARKS[k % len(CHART_MARKS)]
            colours[height - 1 - y][x] = CHART_COLOURS[k % len(CHART_COLOURS)]
    text = Text()
    labelled = _label_rows(height)
    for row in range(height):
        level = hi - (hi - lo) * row / (height - 1)
        text.append(f"{level:>10,.0f} │" if row in labelled else f"{'':>10} │")
        for x in range(plot_w):
            text.append(grid[row][x], style=colours[row][x] or None)
        text.append("\n")
    first, last = data.index[0], data.index[-1]
    axis = f"{first:%Y-%m-%d}"
    text.append(" " * 11 + "└" + "─" * (plot_w) + "\n")
    text.append(" " * 12 + axis + " " * max(1, plot_w - len(axis) - 10) + f"{last:%Y-%m-%d}\n")
    used = 0
    for k, col in enumerate(columns):
        entry = f"  {CHART_MARKS[k % len(CHART_MARKS)]} {col}"
        if used and used + len(entry) > width:  # a legend entry never breaks across lines
            text.append("\n")
            used = 0
        text.append(entry, style=CHART_COLOURS[k % len(CHART_COLOURS)])
        used += len(entry)
    text.append("\n")
    return text


def _label_rows(height: int) -> set[int]:
    """The rows whose value the y axis prints: the top, every third row, and the bottom, with at least two
    blank rows between two labels (so "99,906" never sits right over "94,923")."""
    rows = {r for r in range(0, height, 3) if height - 1 - r >= 3}
    return rows | {0, height - 1}
