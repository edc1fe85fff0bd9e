"""The universe tear sheet: metrics.json's figures checked against the run's own tables and files, and the page."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from backtest.engine.universe import run_universe
from backtest.report.universe.page import universe_report_html
from backtest.report.universe.tearsheet import _cumulative_html
from backtest.runs.universe import write_universe
from backtest.scoring.crosssection import by_month
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The engine's result (its own tables, to check what the folder says) and a folder to write it in."""
    tmp = tmp_path_factory.mktemp("ts")
    path = write_long_csv(synthetic_universe(12, 300), tmp / "long.csv")
    return run_universe(universe_config(path, "strategies.rules=[]")), tmp


@pytest.fixture(scope="module")
def run(engine):
    result, tmp = engine
    summary = write_universe(result, tmp / "run")
    return summary, json.loads((tmp / "run" / "metrics.json").read_text())["tearsheet"]


def test_the_one_day_decay_is_the_rank_ic_and_turnovers_are_shares(run):
    summary, sheet = run
    factor = pd.DataFrame(sheet["factor"]).set_index("scorer")
    assert factor.loc["reversal", "decay_1"] == pytest.approx(summary.ic.loc["reversal", "rank_ic"], abs=1e-12)
    assert list(factor.columns[-5:]) == ["decay_1", "decay_2", "decay_5", "decay_10", "decay_20"]
    assert 0.0 < factor.loc["reversal", "turnover_top"] <= 1.0 and factor.loc["naive", "turnover_top"] == 0.0


def test_by_month_and_returns_by_year_agree_with_the_runs_files(run):
    summary, sheet = run
    daily = summary.daily_ic["reversal:rank_ic"].dropna()
    month = daily[(daily.index.year == 2015) & (daily.index.month == 10)].mean()
    assert sheet["by_month"]["reversal:rank_ic"]["2015"]["10"] == pytest.approx(month, abs=1e-12)
    assert by_month(daily).shape[1] == 12
    equity = summary.equity["equal_weight"]
    first_2016 = equity[equity.index.year == 2016]
    last_2015 = equity[equity.index.year == 2015].iloc[-1]
    assert sheet["returns_by_year"]["net"]["equal_weight"]["2016"] == pytest.approx(
        100.0 * (first_2016.iloc[-1] / last_2015 - 1.0), rel=1e-9)
    assert set(sheet["returns_by_year"]["gross"]) == set(summary.equity.columns)


def test_the_page_shows_the_tear_sheet_with_plotly_once(run):
    summary, _ = run
    page = universe_report_html(summary)
    assert page.count("plotly.js v") == 1
    for words in ["Tear sheet (on open t+1 → open t+2)", "IC and rank IC by month",
                  "Distribution of the daily rank IC, against a normal", "rank autocorr. (lag 1)", "IC decay",
                  "Returns by calendar year", "this run has no universe.groups"]:
        assert words in page, words
    assert np.isfinite(pd.DataFrame(run[1]["factor"]).set_index("scorer").loc["reversal", "rank_autocorrelation"])


@pytest.mark.parametrize("width", [60, 80])
def test_the_console_gives_the_tear_sheets_headline_in_a_line(run, width):
    import io

    from rich.console import Console

    from backtest.report.console import render_universe

    summary, sheet = run
    buf = io.StringIO()
    render_universe(summary, Console(file=buf, width=width, color_system=None))
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= width
    reversal = next(r for r in sheet["factor"] if r["scorer"] == "reversal")
    words = " ".join(out.split())
    assert f"reversal {reversal['rank_autocorrelation']:.2f} / {100 * reversal['turnover_top']:.0f} %" in words
    assert "naive" not in words.split("Lag-1 rank autocorrelation")[1].split("report.html")[0]  # no ranking
    q, book = sheet["cumulative"]["quantiles"]["reversal"], sheet["cumulative"]["books"]["reversal:long_short"]
    line = words.split("Cumulative return: ")[1].split(" (every decile and book: report.html)")[0]
    assert line == (f"top / bottom decile reversal {q['10']:+.1f} / {q['1']:+.1f} %; long-short before → after "
                    f"costs reversal {book['gross']:+.1f} → {book['net']:+.1f} %")  # naive has no ranking


def test_every_deciles_cumulative_return_compounds_its_daily_means_in_ic_csv(run):
    summary, sheet = run
    daily = summary.daily_ic
    q1, q10 = daily["reversal:q1"], daily["reversal:q10"]
    assert (q10 - q1).dropna().to_numpy() == pytest.approx(daily["reversal:spread"].dropna().to_numpy(), abs=1e-12)
    assert q10.mean() == pytest.approx(summary.deciles.loc["reversal", "10"], abs=1e-12)  # the deciles table's mean
    quantiles = sheet["cumulative"]["quantiles"]
    assert set(quantiles) == {"naive", "reversal"} and list(quantiles["reversal"]) == [str(q) for q in range(1, 11)]
    assert quantiles["reversal"]["10"] == pytest.approx(100.0 * (np.prod(1.0 + q10.dropna()) - 1.0), rel=1e-9)
    assert q10.isna().sum() == 2  # the last two days have no earnable return: left out, not compounded as 0 %


def test_each_book_before_and_after_costs_is_the_engines_gross_and_net_book(engine, run):
    result, _ = engine
    summary, sheet = run
    gross, net = summary.gross_equity, summary.equity
    assert list(gross.columns) == list(net.columns) and gross.index.equals(net.index)
    assert (gross.iloc[0] == result.config.backtest.init_cash).all()  # the first day only decides
    assert np.allclose(gross.pct_change().iloc[1:].to_numpy(), result.gross_returns.to_numpy(), atol=1e-12)
    books = sheet["cumulative"]["books"]
    for book in net.columns:
        for key, value in (("net", net[book]), ("gross", gross[book])):
            assert books[book][key] == pytest.approx(100.0 * (value.iloc[-1] / value.iloc[0] - 1.0), rel=1e-9)
        assert books[book]["gross"] > books[book]["net"], book  # fees, slippage and borrow only take away


def test_the_page_draws_every_decile_and_the_books_before_and_after_costs(run):
    summary, _ = run
    page = universe_report_html(summary)
    for words in ["Cumulative return of every decile", 'id="quantiles-0"', 'id="quantiles-1"',
                  "Books: cumulative return before and after costs", 'id="books-cumulative"', "before costs %"]:
        assert words in page, words
    older = dataclasses.replace(summary, gross_equity=None,
                                daily_ic=summary.daily_ic.filter(regex=r":(ic|rank_ic|spread)$"))
    assert _cumulative_html(older) == []  # a run written before these files existed: the rest of the page only
