"""`wfbt compare` says what differs: the settings, the data, and paired tests of run A against run B."""

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.differences import data_note, settings_diff
from backtest.runs.store import read_run
from backtest.scoring.significance import diebold_mariano, holm, sharpe_difference
from tests.conftest import run_args, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """a and b: the same prices, lookback 5 and 10; c: other prices. The linear baseline is traded too: its
    forecasts move with the lookback, where two epochs of a tiny lstm hardly do."""
    tmp = tmp_path_factory.mktemp("diff")
    p = write_yahoo_csv(synthetic_prices(300), tmp / "p.csv")
    q = write_yahoo_csv(synthetic_prices(300, seed=7), tmp / "q.csv")
    b = ["run.name='b'", "forecast.lookback=10", "run.seed=1"]
    for csv, sets in ((p, ["run.name='a'"]), (p, b), (q, ["run.name='c'"])):
        result = runner.invoke(app, run_args(csv, tmp / "runs", "forecast.models=['lstm','linear']", *sets))
        assert result.exit_code == 0, result.output
    return tmp / "runs"


def compare_cli(*args, columns=80):
    result = runner.invoke(app, ["compare", *map(str, args)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def pair_row(out, name):
    """The row of the paired table for run a against run b and ``name``."""
    return next(line for line in out.splitlines()
                if [c.strip() for c in line.split("│")[1:4]] == ["a", "b", name])


def test_settings_that_differ_come_first(runs, tmp_path):
    out = compare_cli(runs / "a", runs / "b", "--html", tmp_path / "c.html")
    assert out.index("Settings that differ") < out.index("Forecast errors across runs")
    row = next(line for line in out.splitlines() if "forecast.lookback" in line)
    assert row.split("│")[2:4] == [" 5 ", " 10 "]
    assert "run.name" not in out and "data.path" not in out  # the name always differs; the data does not
    assert "These runs are on different data" not in out
    page = (tmp_path / "c.html").read_text()
    assert "Settings that differ" in page and "forecast.lookback" in page and "data-warning" not in page


def test_paired_tests_on_the_same_data_are_the_documented_tests(runs, tmp_path):
    out = compare_cli(runs / "a", runs / "b", "--limit", "1", "--html", tmp_path / "c.html", columns=200)
    a, b = read_run(runs / "a"), read_run(runs / "b")
    pa, pb = a.predictions(), b.predictions()
    loss = {}
    for run, p in (("a", pa), ("b", pb)):
        g = p[p["model"] == "lstm"].set_index("date")
        loss[run] = (g["predicted"] - g["actual"]) ** 2
    days = loss["a"].index.intersection(loss["b"].index)
    dm_p = diebold_mariano(loss["a"].loc[days].to_numpy(), loss["b"].loc[days].to_numpy())[1]
    row = pair_row(out, "lstm")
    assert f"{dm_p:.3f}" in row and f" {len(days)} " in row
    # the Sharpe test: daily returns of each run's equity (from the initial cash), Ledoit-Wolf
    shared = [s for s in a.equity.columns if s != "buy_and_hold"]
    identical = [s for s in shared if np.allclose(a.equity[s], b.equity[s])]  # bollinger, macd: no forecast in them
    differing = [s for s in shared if s not in identical]
    assert differing, "the two lookbacks traded alike: the fixture no longer tests anything"
    r = {k: pd.concat([pd.Series([100_000.0]), s.equity[differing[0]].reset_index(drop=True)]).pct_change().iloc[1:]
         for k, s in (("a", a), ("b", b))}
    p = sharpe_difference(r["a"].to_numpy(), r["b"].to_numpy())[1]
    assert f"{p:.3f}" in pair_row(out, differing[0])
    assert "identical" in pair_row(out, identical[0]) if identical else True
    text = " ".join(out.split())
    assert f"Holm-adjusted over {len(differing)} pair{'' if len(differing) == 1 else 's'}" in text
    assert "run A against run B" in out and "Ledoit-Wolf" in out
    page = (tmp_path / "c.html").read_text()
    assert "Run against run, on the same data" in page and "a vs b · lstm" in page


def test_different_data_is_said_at_the_top_of_the_console_and_the_page(runs, tmp_path):
    page = tmp_path / "c.html"
    out = compare_cli(runs / "a", runs / "c", "--html", page)
    text = " ".join(out.split())
    assert out.lstrip().startswith("⚠ These runs are on different data")
    assert f"a: csv:{runs.parent / 'p.csv'}; c: csv:{runs.parent / 'q.csv'}" in text
    assert "run A against run B" not in out  # different assets are not tested against each other
    html = page.read_text()
    assert html.index("data-warning") < html.index("compare-equity")
    assert f"<b>a</b>: csv:{runs.parent / 'p.csv'}" in html and f"<b>c</b>: csv:{runs.parent / 'q.csv'}" in html


def test_settings_diff_on_named_configs():
    configs = {"x": {"run": {"name": "x", "seed": 0}, "forecast": {"lookback": 5, "models": ["lstm"]}},
               "y": {"run": {"name": "y", "seed": 0}, "forecast": {"lookback": 5, "models": ["gru"]},
                     "data": {"columns": {}}}}
    table = settings_diff(configs)
    assert table.to_dict(orient="records") == [
        {"setting": "data.columns", "x": "(not set)", "y": "{}"},
        {"setting": "forecast.models", "x": "['lstm']", "y": "['gru']"}]
    assert settings_diff({"x": configs["x"], "z": configs["x"]}).empty


def test_the_same_name_with_other_prices_is_different_data():
    manifest = {"data": {"source": "sample", "symbol": "sp500"}}
    days = pd.bdate_range("2020-01-01", periods=4)
    same = pd.Series([1.0, 2.0, 3.0, 4.0], index=days)
    assert data_note({"a": manifest, "b": manifest}, {"a": same, "b": same.iloc[1:]}) is None
    note = data_note({"a": manifest, "b": manifest}, {"a": same, "b": same * 1.01})
    assert "the same data name but different closes on the common days (b differ)" in note
    assert "a: S&P 500 (sample:sp500); b: S&P 500 (sample:sp500)" in note


def test_holm_runs_over_the_pairs():
    """Three pairs, p = 0.01, 0.02, 0.04: Holm gives 0.03, 0.04, 0.04, so only the first is below 5 %... and
    the verdicts follow the adjusted p-values (checked in the frame the CLI prints)."""
    from backtest.runs.differences import _verdict

    adjusted = holm(np.array([0.01, 0.02, 0.04]))
    assert list(adjusted) == pytest.approx([0.03, 0.04, 0.04])
    assert _verdict(-2.0, 0.03, 0.05, lower_is_better=True) == "better"
    assert _verdict(2.0, 0.03, 0.05, lower_is_better=False) == "better"  # a higher Sharpe
    assert _verdict(2.0, 0.06, 0.05, lower_is_better=False) == "indistinguishable"
    assert _verdict(0.0, math.nan, 0.05, lower_is_better=True) == "identical"
