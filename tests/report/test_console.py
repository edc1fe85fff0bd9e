"""The console summary at the widths terminals have: columns are dropped with a note, numbers never cut."""

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.report.console import render
from backtest.runs.store import read_run
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    csv = write_yahoo_csv(synthetic_prices(420), tmp / "p.csv")
    args = ["run", "--quiet", "--out", str(tmp / "runs"), "--set", "data.source=csv", "--set",
            f"data.path={str(csv)!r}", "--set", "run.name='r'", "--set", "forecast.models=['lstm_stacked','linear']"]
    for item in TINY:
        if not item.startswith("forecast.models"):
            args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return tmp / "runs" / "r"


def rendered(run_dir, width: int) -> str:
    buf = io.StringIO()
    render(read_run(run_dir), Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_no_line_is_wider_than_the_terminal_and_nothing_is_cut(run_dir, width):
    out = rendered(run_dir, width)
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out


@pytest.mark.parametrize("width", [80, 200])
def test_every_shown_number_is_whole(run_dir, width):
    """Each strategy's Sharpe ratio and return in metrics.json appear in full on its row."""
    out = rendered(run_dir, width)
    trading = out[out.index("Trading out of sample"):].splitlines()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for row in metrics["trading"]:
        rows = [[c.strip() for c in line.split("│")] for line in trading if line.startswith("│")]
        cells = next(c for c in rows if c[1].removesuffix(" ★") == row["strategy"])
        assert f"{row['sharpe']:,.2f}" in cells and f"{row['total_return']:,.2f}" in cells


def test_narrow_tables_name_the_columns_they_leave_out(run_dir):
    narrow, wide = rendered(run_dir, 80), rendered(run_dir, 200)
    assert "not shown at this width:" in narrow and "max DD %" in wide
    assert re.search(r"not shown at this width: .*CAGR\s+%", narrow.replace("\n", " "))  # a caption may wrap there
    caption = wide[wide.index("Trading out of sample"):].replace("\n", " ")
    assert not re.search(r"not shown at this width: [^(]*(return %|CAGR|Sharpe|fees|DSR)", caption)
    assert "not shown at this width" not in rendered(run_dir, 400)  # the trader's figures too, when there is room


def test_at_80_columns_the_trader_figures_leave_todays_table_as_it_was(run_dir):
    """The trader's figures are lower priority than every column of today's: at 80 columns they are all left
    out and the caption names only today's columns, as before they existed."""
    from backtest.report.wording import TRADER_COLUMNS

    narrow = rendered(run_dir, 80)
    trading = narrow[narrow.index("Trading out of sample"):]
    header = next(line for line in trading.splitlines() if line.startswith("┃"))
    assert "Sharpe" in header and not any(f" {label} " in header for label, _ in TRADER_COLUMNS.values())
    assert "hold days" not in trading.replace("\n", " ") and "break-even" not in trading


def test_a_wide_table_shows_the_trader_figures_with_their_note(run_dir):
    wide = rendered(run_dir, 400)
    header = next(line for line in wide[wide.index("Trading out of sample"):].splitlines() if line.startswith("┃"))
    assert "break-even" in header and "turnover/yr" in header and "PF" in header
    assert "profit factor (gross profit / gross loss)" in wide.replace("\n", " ").replace("  ", " ")


def test_show_through_the_entry_point_at_80_columns(run_dir):
    result = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and "Theil U" in result.output and "vs B&H" in result.output
    assert "No forecast is better than the naive forecast" in result.output or "Better than" in result.output


def test_console_and_html_say_positions_are_sold_on_the_last_day(run_dir):
    from backtest.report.html import report_html
    from backtest.report.wording import LAST_DAY_NOTE

    wide = " ".join(rendered(run_dir, 200).split())
    assert "are sold at its close, paying fee, slippage and tax" in wide and LAST_DAY_NOTE in wide
    assert LAST_DAY_NOTE.replace("'", "&#x27;") in report_html(read_run(run_dir))


def test_footnotes_explain_the_names_and_columns_at_80_columns(run_dir):
    """Through `wfbt show`: every per-model rule in the table is spelled out, dir. % and PSR beside DSR too."""
    result = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "dir. %: share of days the forecast had the sign of the next move right" in text
    names = json.loads((run_dir / "metrics.json").read_text())["trading"]
    rules = {r["strategy"].split(":", 1)[1] for r in names if ":" in r["strategy"]}
    assert rules >= {"forecast", "forecast+bollinger", "vote"}
    assert "MODEL:forecast+bollinger = forecast rule joined with Bollinger (both must say hold)" in text
    assert "MODEL:vote = hold while at least two of forecast, Bollinger, MACD say hold" in text
    assert ("PSR: probability the true Sharpe beats buy-and-hold's; DSR: probability it beats the best Sharpe "
            "that as many strategies without skill would show by luck") in text
    assert "above zero" not in text  # the DSR's bar is SR0, not zero


def test_the_equity_chart_legend_never_breaks_an_entry_and_labels_keep_apart(run_dir):
    """At 80 columns the legend's entries each sit whole on one line, and two y labels have blank rows between."""
    from backtest.report.chart import CHART_MARKS

    result = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "80"})
    lines = result.output.splitlines()
    axis = next(i for i, line in enumerate(lines) if "└" in line and "─" * 20 in line and "│" in line)
    start = next(i for i in range(axis, 0, -1) if "╭" in lines[i])
    labelled = [i for i in range(start + 1, axis) if lines[i][1:].split("│")[0].strip()]
    assert len(labelled) >= 3 and min(b - a for a, b in zip(labelled, labelled[1:], strict=False)) >= 3
    legend = " ".join(line.strip("│ ").strip() for line in lines[axis + 2:] if "╰" not in line)
    chart = read_run(run_dir)
    from backtest.report.console import chart_columns

    for k, name in enumerate(chart_columns(chart)):
        entry = f"{CHART_MARKS[k]} {name}"
        assert any(entry in line for line in lines[axis + 2:]), f"{entry!r} broken across lines: {legend}"


def test_console_html_and_metrics_say_which_prices_and_fills_were_traded(run_dir):
    from backtest.report.html import report_html
    from backtest.report.wording import TRADER_COLUMNS

    words = ("prices: raw, dividends not credited · fills: fractional shares (backtest.whole_shares = false), "
             "no minimum fee")
    assert words in " ".join(rendered(run_dir, 200).replace("│", " ").split())
    page = report_html(read_run(run_dir))
    assert words in page and "The figures traders read" in page and "break-even" in page
    trading = json.loads((run_dir / "metrics.json").read_text())["trading"]
    assert all(set(TRADER_COLUMNS) <= set(row) for row in trading)
    bench = next(r for r in trading if r["strategy"] == "buy_and_hold")
    assert bench["beta"] == pytest.approx(1.0) and bench["break_even_cost"] is None
