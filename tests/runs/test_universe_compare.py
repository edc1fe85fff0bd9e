"""`wfbt compare` of universe runs says what differs: the settings, the stocks, the data and the periods.

Runs on tiny panels (the tiny universe settings, baselines only):
- "a": ten random walks, 140 days out of sample; "b": the same file with train_days 180 (the last 120 of those
  days, the same scores: on the common period "b" is "a" cut); "a2": a copy of "a" (identical runs).
- "rev": ten stocks whose returns revert (r_t = -0.5 r_(t-1) + noise), "walk": eight of them as plain random
  walks. Each day opens at the previous close, so the return from t to t+1 is the same close to close and open
  to open: the reversal score (minus the last return) has a strong IC on "rev" and none on "walk", however the
  IC and the books read the next return.
"""

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.universe_compare import compare_universes, data_warning, period_warning, stock_warning
from tests.cli.test_run_universe import universe_args
from tests.conftest import said, synthetic_universe, write_long_csv

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


def reverting(n_symbols: int, n_days: int, phi: float, seed: int) -> dict[str, pd.DataFrame]:
    """Stocks S0.. whose daily returns follow r_t = phi r_(t-1) + e_t (sd 1.5 %); each opens at the last close."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-01", periods=n_days, name="date")
    out = {}
    for i in range(n_symbols):
        e = rng.normal(0.0, 0.015, n_days)
        r = np.zeros(n_days)
        for t in range(1, n_days):
            r[t] = phi * r[t - 1] + e[t]
        close = 50.0 * np.exp(np.cumsum(r))
        open_ = np.r_[close[0], close[:-1]]
        high, low = np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998
        out[f"S{i}"] = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                                     "volume": 1e6 + 1e3 * np.arange(n_days)}, index=index)
    return out


def _run(path, out, *sets):
    result = runner.invoke(app, [*universe_args(path, out, *sets), "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ucompare")
    walks = write_long_csv(synthetic_universe(10, 300), tmp / "walks.csv")
    _run(walks, tmp / "runs", "run.name='a'")
    _run(walks, tmp / "runs", "run.name='b'", "walkforward.train_days=180")
    shutil.copytree(tmp / "runs" / "a", tmp / "runs" / "a2")
    rev = write_long_csv(reverting(10, 300, -0.5, seed=1), tmp / "rev.csv")
    walk = write_long_csv({k: v for k, v in reverting(10, 300, 0.0, seed=2).items() if k not in ("S8", "S9")},
                          tmp / "walk.csv")
    _run(rev, tmp / "runs", "run.name='rev'")
    _run(walk, tmp / "runs", "run.name='walk'")
    return tmp / "runs"


def compare_cli(*folders, columns=80):
    result = runner.invoke(app, ["compare", *map(str, folders), "--html", str(folders[0].parent / "c.html")],
                           env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result


def test_the_settings_that_differ_and_the_period_warning(runs):
    c = compare_universes([str(runs / "a"), str(runs / "b")])
    assert c.settings.to_dict("records") == [{"setting": "walkforward.train_days", "a": "160", "b": "180"}]
    assert c.warnings == ["⚠ These universe runs cover different out-of-sample periods: every table and test below "
                          "uses only the 120 days they share."]
    out = compare_cli(runs / "a", runs / "b")
    text = said(out)
    assert "Settings that differ between the runs" in text and "walkforward.train_days │ 160 │ 180" in text
    assert text.index("⚠ These universe runs cover different") < text.index("Settings that differ")
    assert max(len(line) for line in out.output.splitlines()) <= 80


def test_identical_runs_have_no_warning_and_no_differing_setting(runs):
    c = compare_universes([str(runs / "a"), str(runs / "a2")])
    assert c.warnings == [] and c.settings.empty
    assert "Settings: the same in every run" in said(compare_cli(runs / "a", runs / "a2"))


def test_other_stocks_and_other_data_are_warned_first(runs):
    c = compare_universes([str(runs / "rev"), str(runs / "walk")])
    stocks, data = c.warnings
    assert stocks.startswith("⚠ These universe runs hold different stocks (rev: 10 stocks, S8, S9 not in every run; "
                             "walk: 8 stocks; 8 in all)")
    assert data.startswith("⚠ These universe runs read different data (rev: ") and "rev.csv; walk: " in data
    text = said(compare_cli(runs / "rev", runs / "walk"))
    assert "hold different stocks" in text and "read different data" in text
    assert [r["setting"] for r in c.settings.to_dict("records")] == ["data.path"]


def test_stock_warning_names_the_stocks_outside_the_common_set():
    assert stock_warning({"x": ["A", "B"], "y": ["B", "A"]}) is None
    text = stock_warning({"x": ["A", "B", "C"], "y": ["A", "D"]})
    assert "x: 3 stocks, B, C not in every run; y: 2 stocks, D not in every run; 1 in all" in text
    many = stock_warning({"x": [f"S{i:02d}" for i in range(20)], "y": ["S00"]})
    assert "S01, S02, S03, S04, S05, S06, S07, S08 and 11 more not in every run" in many


def test_data_warning_tells_another_file_from_other_prices_in_the_same_file():
    same = {"origin": "u.csv", "fingerprint": "1", "first": "2015-01-01", "last": "2016-01-01"}
    assert data_warning({"x": {"data": same}, "y": {"data": dict(same)}}) is None
    assert "different data (x: u.csv; y: v.csv)" in data_warning({"x": {"data": same},
                                                                   "y": {"data": {**same, "origin": "v.csv"}}})
    assert "read u.csv with different prices over the same days" in data_warning(
        {"x": {"data": same}, "y": {"data": {**same, "fingerprint": "2"}}})
    # the same file cut to another span (data.start) is a period, not other prices
    assert data_warning({"x": {"data": same}, "y": {"data": {**same, "fingerprint": "2", "first": "2015-02-02"}}}) \
        is None


def test_period_warning_only_when_the_periods_differ():
    t = pd.Timestamp
    assert period_warning({"x": (t("2015-01-01"), t("2015-06-01")), "y": (t("2015-01-01"), t("2015-06-01"))}, 9) \
        is None
    assert "only the 1,200 days they share" in period_warning(
        {"x": (t("2015-01-01"), t("2015-06-01")), "y": (t("2015-02-01"), t("2015-06-01"))}, 1200)
