"""A universe run's report.html, `wfbt show` and `wfbt compare`, through the CLI on a tiny panel.

Ten names (so each day has a stock per decile), 300 days; run "a" trades 140 days out of sample, run "b"
(train_days 180) the last 120 of them, on the same file: the same scores, so on the common period every
figure of "a" recomputed must equal what "b" saved. One stock has a row with its open above its high, which
loading drops, so the data section has something to show.
"""

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.universe_compare import compare_universes
from tests.cli.test_run_universe import universe_args
from tests.conftest import run_args, said, synthetic_prices, synthetic_universe, write_long_csv, write_yahoo_csv

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(runs folder, the output of run "a" at 80 columns)."""
    tmp = tmp_path_factory.mktemp("ureports")
    frames = synthetic_universe(10, 300)
    frames["S3"].iloc[50, frames["S3"].columns.get_loc("open")] = 2 * frames["S3"]["high"].iloc[50]
    path = write_long_csv(frames, tmp / "long.csv")
    first = runner.invoke(app, universe_args(path, tmp / "runs", "run.name='a'"), env={"COLUMNS": "80"})
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*universe_args(path, tmp / "runs", "run.name='b'", "walkforward.train_days=180"),
                                 "--quiet"])
    assert second.exit_code == 0, second.output
    return tmp / "runs", first.stdout


def plotted(page: str, div_id: str) -> list[dict]:
    """The traces plotly draws in the chart ``div_id``, read from the page's Plotly.newPlot call."""
    found = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', page)
    assert found, f"no chart {div_id!r} on the page"
    traces, _ = json.JSONDecoder().raw_decode(page, found.end())
    return traces


def by_name(traces: list[dict]) -> dict[str, dict]:
    return {t["name"]: t for t in traces}


def close(a, b):
    return (a is None and (b is None or math.isnan(b))) or a == pytest.approx(b, abs=1e-6)


def test_report_draws_the_daily_and_cumulative_ic_of_ic_csv(runs):
    folder = runs[0] / "a"
    page = (folder / "report.html").read_text(encoding="utf-8")
    ic = pd.read_csv(folder / "ic.csv", index_col="date")
    daily, cumulative = by_name(plotted(page, "ic-daily")), by_name(plotted(page, "ic-cumulative"))
    wanted = ["naive:ic", "naive:rank_ic", "reversal:ic", "reversal:rank_ic"]
    assert sorted(daily) == sorted(cumulative) == wanted
    rank = daily["reversal:rank_ic"]
    assert rank["x"] == list(ic.index) and len(rank["y"]) == 140
    assert all(close(a, b) for a, b in zip(rank["y"], ic["reversal:rank_ic"], strict=True))
    assert cumulative["reversal:ic"]["y"][-1] == pytest.approx(ic["reversal:ic"].sum(), abs=1e-5)
    assert all(v is None for v in daily["naive:ic"]["y"])  # a constant score has no IC: a gap, not a zero


def test_report_draws_the_deciles_with_the_spread_of_the_ic_table(runs):
    folder = runs[0] / "a"
    page = (folder / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((folder / "metrics.json").read_text())
    bars = by_name(plotted(page, "deciles"))
    assert set(bars) == {"naive", "reversal"} and all(t["type"] == "bar" for t in bars.values())
    saved = next(r for r in metrics["deciles"] if r["scorer"] == "reversal")
    assert bars["reversal"]["x"] == [str(d) for d in range(1, 11)]
    assert bars["reversal"]["y"] == pytest.approx([100 * saved[str(d)] for d in range(1, 11)], abs=1e-6)
    spread = next(r["spread"] for r in metrics["ic"] if r["scorer"] == "reversal")
    assert np.isfinite(spread) and f"reversal {100 * spread:.3f} %" in page
    ic = pd.read_csv(folder / "ic.csv")
    assert ic["reversal:spread"].mean() == pytest.approx(spread)  # the daily spread the table averages


def test_report_draws_every_book_against_the_benchmark_and_its_turnover(runs):
    folder = runs[0] / "a"
    page = (folder / "report.html").read_text(encoding="utf-8")
    equity = pd.read_csv(folder / "equity.csv", index_col="date")
    turnover = pd.read_csv(folder / "turnover.csv", index_col="date")
    lines = plotted(page, "equity")
    assert lines[0]["name"] == "equal_weight" and lines[0]["line"]["color"] == "black"
    assert sorted(t["name"] for t in lines) == sorted(equity.columns)
    assert by_name(lines)["reversal:long_short"]["y"][-1] == pytest.approx(equity["reversal:long_short"].iloc[-1])
    turns = by_name(plotted(page, "turnover"))
    assert sorted(turns) == sorted(turnover.columns) == sorted(equity.columns)
    assert turns["reversal:topk_dropout"]["y"] == pytest.approx(list(100 * turnover["reversal:topk_dropout"]),
                                                                 abs=1e-6)
    metrics = json.loads((folder / "metrics.json").read_text())
    for row in metrics["trading"]:  # the daily file the chart draws averages to the table's turnover
        assert turnover[row["book"]].iloc[0] == 0.0  # the first day only decides: nothing is traded
        assert 100 * turnover[row["book"]].iloc[1:].mean() == pytest.approx(row["turnover"])


def test_report_has_the_tables_the_data_summary_and_the_warning(runs):
    page = (runs[0] / "a" / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in page  # plotly inline: opens offline
    for label in ["ICIR", "t HAC", "% &gt; 0", "spread %", "net %", "turn %", "PSR", "DSR", "vs EW", "SPA p = "]:
        assert label in page, label
    assert "⚠ survivorship bias: Every one of the 10 stocks still trades on the last day" in page
    assert "naive: the same score for every stock, so no IC" in page and "reversal: the same" not in page
    assert "Symbols refused (0)" in page
    assert "long_short: 50 % of the value long and 50 % short, the short proceeds financing the long (gross 1)" in page
    assert "Symbols with rows dropped, holes, zero volume or jumps (1)" in page
    # dropped: open outside [low, high] (duplicate 0, missing 0, invalid 0, outside 1)
    assert re.search(r"<td>S3</td><td>ok</td><td>0</td><td>0</td><td>0</td><td>1</td>", page)


def test_show_prints_what_the_run_printed(runs):
    shown = runner.invoke(app, ["show", str(runs[0] / "a")], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == runs[1]
    assert "Scores across the cross-section" in shown.stdout and "report.html" in shown.stdout


def test_compare_recomputes_both_tables_on_the_common_period(runs):
    folder = runs[0]
    result = runner.invoke(app, ["compare", str(folder / "a"), str(folder / "b")], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Compared on their common period only, 2015-09-10 → 2016-02-24 (120 trading days)" in said(result)
    assert (folder / "compare.html").is_file()
    c = compare_universes([str(folder / "a"), str(folder / "b")])
    b_saved = json.loads((folder / "b" / "metrics.json").read_text())
    ic = c.ic.set_index(["run", "scorer"])
    for row in b_saved["ic"]:  # the same scores: "a" cut to b's days is b
        for key in ["ic", "rank_ic", "icir", "t_hac", "positive", "spread", "days"]:
            assert close(row[key], ic.loc[("a", row["scorer"]), key]), key
    a_equity = pd.read_csv(folder / "a" / "equity.csv", index_col="date", parse_dates=["date"])
    start = a_equity.index.get_loc(pd.Timestamp("2015-09-10"))
    cut = a_equity["reversal:long_only"].iloc[start - 1:]  # from the day before: the first day's return counts
    trading = c.trading.set_index(["run", "book"])
    assert trading.loc[("a", "reversal:long_only"), "mean_net"] == pytest.approx(100 * cut.pct_change().mean())
    assert trading.loc[("a", "reversal:long_only"), "turnover"] == pytest.approx(
        100 * pd.read_csv(folder / "a" / "turnover.csv")["reversal:long_only"].iloc[start:].mean())
    assert "mean_gross" not in trading  # before costs is not saved per day: left out, as the note says
    assert set(trading.loc["a"]["verdict"]) <= {"better", "worse", "indistinguishable", "benchmark"}


def test_compare_of_the_same_period_shows_the_saved_tables(runs, tmp_path):
    copy = tmp_path / "a2"
    shutil.copytree(runs[0] / "a", copy)
    c = compare_universes([str(runs[0] / "a"), str(copy)])
    assert c.same_period and c.days == 140
    saved = pd.DataFrame(json.loads((copy / "metrics.json").read_text())["trading"]).set_index("book")
    ours = c.trading[c.trading["run"] == "a2"].set_index("book")
    assert ours["sharpe"].to_dict() == pytest.approx(saved["sharpe"].to_dict())


def test_compare_refuses_a_universe_run_beside_a_single_symbol_run(runs, tmp_path):
    csv = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
    assert runner.invoke(app, run_args(csv, tmp_path / "runs", "run.name='one'")).exit_code == 0
    result = runner.invoke(app, ["compare", str(runs[0] / "a"), str(tmp_path / "runs" / "one")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "is a universe run and" in said(result)
    assert "Compare universe runs with universe runs" in said(result)


def test_the_data_section_names_a_refused_symbol_and_why(runs):
    from backtest.report.universe.page import data_html
    from backtest.runs.universe_folder import read_universe

    summary = read_universe(runs[0] / "a")
    symbols = summary.symbols.astype({"reason": object})
    symbols.loc[symbols["symbol"] == "S7", ["status", "reason"]] = ["refused", "only 12 rows"]
    summary.symbols = symbols
    text = "".join(data_html(summary))
    assert "Symbols refused (1)" in text and "<td>S7</td><td>refused</td><td>only 12 rows</td>" in text


def test_show_of_a_cut_universe_folder_names_the_file_and_the_fix(runs, tmp_path):
    copy = tmp_path / "cut"
    shutil.copytree(runs[0] / "a", copy)
    (copy / "turnover.csv").write_text("date\n", encoding="utf-8")
    shown = runner.invoke(app, ["show", str(copy)])
    assert shown.exit_code == 2 and "Traceback" not in shown.output
    assert "turnover.csv" in said(shown)


def test_compare_of_a_universe_run_and_a_missing_folder_says_it_is_missing(runs, tmp_path):
    result = runner.invoke(app, ["compare", str(runs[0] / "a"), str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "does not exist" in said(result) and "universe run and" not in said(result)
