"""The universe tear sheet: metrics.json's figures checked against the run's own tables and files, and the page."""

import json

import numpy as np
import pandas as pd
import pytest

from backtest.engine.universe import run_universe
from backtest.report.universe.page import universe_report_html
from backtest.runs.universe import write_universe
from backtest.scoring.crosssection import by_month
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ts")
    path = write_long_csv(synthetic_universe(12, 300), tmp / "long.csv")
    summary = write_universe(run_universe(universe_config(path, "strategies.rules=[]")), tmp / "run")
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


def test_the_console_gives_the_tear_sheets_headline_in_a_line(run):
    import io

    from rich.console import Console

    from backtest.report.console import render_universe

    summary, sheet = run
    buf = io.StringIO()
    render_universe(summary, Console(file=buf, width=80, color_system=None))
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= 80
    reversal = next(r for r in sheet["factor"] if r["scorer"] == "reversal")
    words = " ".join(out.split())
    assert f"reversal {reversal['rank_autocorrelation']:.2f} / {100 * reversal['turnover_top']:.0f} %" in words
    assert "naive" not in words.split("Lag-1 rank autocorrelation")[1].split("report.html")[0]  # no ranking
