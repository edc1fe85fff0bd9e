"""The pieces every HTML page of wfbt is made of, for both run kinds: the page, its style, tables, figures."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from backtest.report.wording import fmt

CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 1.5em auto; max-width: 1300px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.bench td { font-weight: bold; } .note { color: #666; font-size: 0.85em; } .verdict { font-weight: 600; }
pre { background: #f6f6f6; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
details { margin: 0.5em 0; }
.warning { color: #8a4b00; background: #fff4e0; padding: 0.5em 0.8em; font-weight: 600; }
"""


def _num(value: Any, digits: int) -> str:
    return html.escape(fmt(value, digits))


def table_html(frame: pd.DataFrame, columns: dict[str, tuple[str, int]], first: str,
               highlight: str | None = None) -> str:
    """A plain HTML table: the ``first`` column as text, the others numbers to the column's digits."""
    cols = [c for c in columns if c in frame.columns]
    head = "".join(f"<th>{html.escape(columns[c][0])}</th>" for c in cols)
    rows = []
    for _, row in frame.iterrows():
        cls = ' class="bench"' if highlight is not None and row[first] == highlight else ""
        cells = "".join(f"<td>{_num(row[c], columns[c][1])}</td>" for c in cols)
        rows.append(f"<tr{cls}><td>{html.escape(str(row[first]))}</td>{cells}</tr>")
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{''.join(rows)}</table>"


def page(title: str, body: list[str]) -> str:
    """A whole HTML document: ``title`` and the ``body`` parts, in wfbt's style."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def figures_html(figures: list[tuple[str, go.Figure]]) -> list[str]:
    """Each figure as a div; plotly.js goes inline once, with the first."""
    out = []
    for i, (div_id, fig) in enumerate(figures):
        out.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, div_id=div_id,
                               config={"displaylogo": False, "responsive": True}))
    return out
