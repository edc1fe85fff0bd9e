"""`wfbt compare` of universe runs says what differs (the settings, the stocks, the data and the periods) and
tests run against run on the common days (daily rank IC and IC difference per scorer, Sharpe difference per book).

Runs on tiny panels (the tiny universe settings, baselines only):
- "a": ten random walks, 140 days out of sample; "b": the same file with train_days 180 (the last 120 of those
  days, the same scores: on the common period "b" is "a" cut); "a2": a copy of "a" (identical runs).
- "rev": ten stocks whose returns revert (r_t = -0.5 r_(t-1) + noise), "walk": eight of them as plain random
  walks. Each day opens at the previous close, so the return from t to t+1 is the same close to close and open
  to open: the reversal score (minus the last return) has a strong IC on "rev" and none on "walk", however the
  IC and the books read the next return.
"""

import math
import shutil

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from rich.cells import cell_len
from statsmodels.stats.multitest import multipletests
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.report.wording import universe_paired_sentences
from backtest.runs.differences import paired_ics
from backtest.runs.universe_compare import (
    BENCHMARK,
    compare_universes,
    data_warning,
    period_warning,
    risk_free_warning,
    stock_warning,
)
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
    _run(walks, tmp / "runs", "run.name='rf'", "backtest.risk_free=0.05")  # "a" over a 5 %/year risk-free rate
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


def _statsmodels_t(d):
    """t of the mean of ``d`` by statsmodels' HAC regression on a constant (Bartlett, no small-sample correction)."""
    from backtest.scoring.significance import newey_west_lags

    fit = sm.OLS(d, np.ones(len(d))).fit(cov_type="HAC", cov_kwds={"maxlags": newey_west_lags(len(d)),
                                                                   "use_correction": False})
    return float(fit.tvalues[0])


def test_paired_ics_on_a_named_panel():
    days = pd.bdate_range("2020-01-01", periods=9)
    a = pd.DataFrame({"sig:ic": [0.10, 0.30, 0.20, 0.40, 0.10, 0.30, 0.20, 0.40, math.nan],
                      "flip:ic": [0.10, 0.00, 0.10, 0.00, 0.10, 0.00, 0.10, 0.00, 0.10],
                      "naive:ic": [math.nan] * 9}, index=days)
    b = pd.DataFrame({"sig:ic": [0.00, 0.10, 0.10, 0.20, 0.00, 0.20, 0.10, 0.30, 0.50],
                      "flip:ic": [0.00, 0.10, 0.00, 0.10, 0.00, 0.10, 0.00, 0.10, 0.05],
                      "naive:ic": [math.nan] * 9}, index=days)
    table = paired_ics({"A": a, "B": b}, ["sig", "flip", "naive"], 0.05).set_index("scorer")
    assert list(table.index) == ["sig", "flip"]  # naive has no IC on any day: nothing to test
    sig = table.loc["sig"]
    assert sig["days"] == 8 and sig["ic_diff"] == pytest.approx(0.125)  # 0.1, 0.2, 0.1, 0.2, then 0.1 four times
    assert sig["ic_a"] == pytest.approx(0.25) and sig["ic_b"] == pytest.approx(0.125)
    d = np.array([0.1, 0.2, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1])
    assert sig["t_hac"] == pytest.approx(_statsmodels_t(d)) and sig["t_hac"] > 0
    flip = table.loc["flip"]  # A - B alternates +0.1, -0.1 (and +0.05 on the last day): no sign of a difference
    assert flip["days"] == 9 and flip["t_hac"] == pytest.approx(_statsmodels_t(
        np.array([0.1, -0.1] * 4 + [0.05])))
    assert list(table["ic_p_holm"]) == pytest.approx(list(multipletests(table["ic_p"], method="holm")[1]))
    assert sig["verdict"] == "better" and flip["verdict"] == "indistinguishable"
    swapped = paired_ics({"B": b, "A": a}, ["sig"], 0.05).iloc[0]
    assert swapped["verdict"] == "worse" and swapped["t_hac"] == pytest.approx(-sig["t_hac"])


def test_paired_rank_ics_are_tested_apart_from_the_ics():
    """A's score puts a few big movers on top (a higher Pearson IC than B's, 'sig:ic' as above) but orders the rest
    worse (a lower rank IC every day): the rank IC, the headline, says worse where the IC says better."""
    days = pd.bdate_range("2020-01-01", periods=9)
    a = pd.DataFrame({"sig:ic": [0.10, 0.30, 0.20, 0.40, 0.10, 0.30, 0.20, 0.40, math.nan],
                      "sig:rank_ic": [0.05, 0.10] * 4 + [0.05],
                      "flip:ic": [0.10, 0.00] * 4 + [0.10], "flip:rank_ic": [0.20] * 9}, index=days)
    b = pd.DataFrame({"sig:ic": [0.00, 0.10, 0.10, 0.20, 0.00, 0.20, 0.10, 0.30, 0.50],
                      "sig:rank_ic": [0.20, 0.20, 0.25] * 3,
                      "flip:ic": [0.00, 0.10] * 4 + [0.05], "flip:rank_ic": [0.10, 0.30] * 4 + [0.10]}, index=days)
    table = paired_ics({"A": a, "B": b}, ["sig", "flip"], 0.05).set_index("scorer")
    sig, flip = table.loc["sig"], table.loc["flip"]
    # rank IC, A - B: -0.15, -0.10, -0.20, -0.10, -0.15, -0.15, -0.15, -0.10, -0.20: mean -1.30 / 9, on all 9 days
    # (the IC has 8: A has none on the last)
    assert sig["rank_days"] == 9 and sig["days"] == 8
    assert sig["rank_ic_diff"] == pytest.approx(-1.30 / 9) and sig["ic_diff"] == pytest.approx(0.125)
    assert sig["rank_ic_a"] == pytest.approx(0.65 / 9) and sig["rank_ic_b"] == pytest.approx(1.95 / 9)
    rank_d = np.array([-0.15, -0.10, -0.20, -0.10, -0.15, -0.15, -0.15, -0.10, -0.20])
    assert sig["rank_t_hac"] == pytest.approx(_statsmodels_t(rank_d)) and sig["rank_t_hac"] < 0
    assert flip["rank_t_hac"] == pytest.approx(_statsmodels_t(np.array([0.1, -0.1] * 4 + [0.1])))
    assert (sig["rank_verdict"], sig["verdict"]) == ("worse", "better")
    assert (flip["rank_verdict"], flip["verdict"]) == ("indistinguishable", "indistinguishable")
    # Holm within each kind of IC (two families of two), as a run's own IC tests; not over all four p-values
    for prefix in ("rank_", ""):
        assert list(table[f"{prefix}ic_p_holm"]) == pytest.approx(
            list(multipletests(table[f"{prefix}ic_p"], method="holm")[1]))
    pooled = multipletests([*table["rank_ic_p"], *table["ic_p"]], method="holm")[1]
    assert not np.allclose(pooled, [*table["rank_ic_p_holm"], *table["ic_p_holm"]])  # the panel tells them apart
    rank, ic = universe_paired_sentences(table.reset_index(), pd.DataFrame(columns=["verdict"]), 0.05)
    assert rank == ("Run against run, rank ICs at 5 % (Newey-West t of the daily rank IC difference, Holm-adjusted "
                    "over 2 pairs): A's sig lower rank IC than B's; the other pairs are not distinguishable.")
    assert ic.startswith("Run against run, ICs at 5 % (") and "A's sig higher IC than B's" in ic


def test_paired_ics_of_the_same_ic_are_identical():
    days = pd.bdate_range("2020-01-01", periods=5)
    a = pd.DataFrame({"sig:ic": [0.1, 0.3, -0.2, 0.4, 0.0]}, index=days)
    row = paired_ics({"A": a, "B": a.copy()}, ["sig"], 0.05).iloc[0]
    assert row["ic_diff"] == 0 and row["t_hac"] == 0 and math.isnan(row["ic_p"]) and row["verdict"] == "identical"


def test_a_planted_reversal_has_the_higher_ic_and_sharpe(runs):
    c = compare_universes([str(runs / "rev"), str(runs / "walk")])
    ic = c.paired_ic.set_index("scorer").loc["reversal"]
    daily = {k: pd.read_csv(runs / k / "ic.csv", index_col="date")["reversal:ic"] for k in ("rev", "walk")}
    d = (daily["rev"] - daily["walk"]).dropna()
    assert ic["days"] == len(d) and ic["ic_diff"] == pytest.approx(d.mean()) and ic["ic_diff"] > 0.3
    assert ic["t_hac"] == pytest.approx(_statsmodels_t(d.to_numpy())) and ic["verdict"] == "better"
    rank = {k: pd.read_csv(runs / k / "ic.csv", index_col="date")["reversal:rank_ic"] for k in ("rev", "walk")}
    r = (rank["rev"] - rank["walk"]).dropna()
    assert ic["rank_days"] == len(r) and ic["rank_ic_diff"] == pytest.approx(r.mean()) and ic["rank_ic_diff"] > 0.3
    assert ic["rank_t_hac"] == pytest.approx(_statsmodels_t(r.to_numpy())) and ic["rank_verdict"] == "better"
    books = c.paired_trading.set_index("book")
    assert set(books.index) == set(c.trading["book"])  # every common book, equal_weight included
    assert books.loc["reversal:long_short", "verdict"] == "better"
    assert books.loc["reversal:long_short", "sharpe_a"] > books.loc["reversal:long_short", "sharpe_b"]
    assert list(books["sr_p_holm"]) == pytest.approx(list(multipletests(books["sr_p"], method="holm")[1]))
    back = compare_universes([str(runs / "walk"), str(runs / "rev")])
    assert back.paired_ic.iloc[0]["verdict"] == "worse" and back.paired_ic.iloc[0]["rank_verdict"] == "worse"
    assert back.paired_trading.set_index("book").loc["reversal:long_short", "verdict"] == "worse"


def test_identical_runs_are_identical_in_every_paired_test(runs):
    c = compare_universes([str(runs / "a"), str(runs / "a2")])
    assert len(c.paired_ic) == 1 and len(c.paired_trading) == len(c.trading) // 2
    for frame, verdict, diff in ((c.paired_ic, "verdict", "ic_diff"), (c.paired_ic, "rank_verdict", "rank_ic_diff"),
                                 (c.paired_trading, "verdict", None)):
        assert set(frame[verdict]) == {"identical"}
        if diff:
            assert (frame[diff] == 0).all()
    assert (c.paired_trading["sharpe_a"] == c.paired_trading["sharpe_b"]).all()


def test_the_same_scores_over_other_periods_have_the_same_ic_on_the_common_days(runs):
    c = compare_universes([str(runs / "a"), str(runs / "b")])
    assert c.paired_ic.iloc[0]["verdict"] == "identical" and c.paired_ic.iloc[0]["days"] <= 120
    assert c.paired_ic.iloc[0]["rank_verdict"] == "identical"
    # the 120 common days begin on b's own first out-of-sample day, which only decides (no book return: b98f539)
    assert set(c.paired_trading["days"]) == {119} and BENCHMARK in set(c.paired_trading["book"])


def test_the_paired_tables_print_whole_at_80_columns(runs):
    out = compare_cli(runs / "rev", runs / "walk").output
    text = " ".join(out.split())
    for title in ("Scores, run A against run B, by rank IC", "Scores, run A against run B, by IC (Pearson",
                  "Books, run A against run B"):
        assert title in text
    assert text.index("by rank IC") < text.index("by IC (Pearson")  # the headline first: books trade on ranks
    assert "rev's reversal higher IC than walk's" in text
    assert "Run against run, rank ICs at 5 % (Newey-West t of the daily rank IC difference, Holm-adjusted over 1 " \
           "pair): rev's reversal higher rank IC than walk's." in text
    assert text.index("higher rank IC") < text.index("higher IC")
    assert "rev's reversal:long_short higher Sharpe than walk's" in text
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    ic = compare_universes([str(runs / "rev"), str(runs / "walk")]).paired_ic.iloc[0]
    rows = [line for line in out.splitlines() if "│ rev" in line and "│ reversal " in line and "better" in line]
    assert f"{ic['rank_ic_diff']:.4f}" in rows[0] and f"{ic['ic_diff']:.4f}" in rows[1]  # the differences, whole


def test_a_narrow_terminal_keeps_the_ic_difference_and_its_verdict(runs):
    out = compare_cli(runs / "rev", runs / "walk", columns=60).output
    head = next(line for line in out.splitlines() if "┃ A " in line and "scorer" in line)
    assert "IC A - B" in head and "Holm p" in head and "A vs B" in head
    assert max(cell_len(line) for line in out.splitlines()) <= 60


def test_the_comparison_page_has_the_warnings_settings_and_paired_tests(runs):
    compare_cli(runs / "rev", runs / "walk")
    page = (runs / "c.html").read_text(encoding="utf-8")
    assert page.count("<p class='warning'>⚠ These universe runs") == 2
    assert "<h2>Settings that differ</h2>" in page and "<td>data.path</td>" in page
    assert "<h2>Run against run, on the common days</h2>" in page
    ic = pd.DataFrame(compare_universes([str(runs / "rev"), str(runs / "walk")]).paired_ic).iloc[0]
    assert (f"<td>rev vs walk · reversal</td><td>{ic['ic_diff']:.4f}</td><td>{ic['t_hac']:.2f}</td>"
            f"<td>{ic['ic_a']:.4f}</td><td>{ic['ic_b']:.4f}</td>") in page
    assert "<td>rev vs walk · reversal:long_short</td>" in page
    assert (f"<th>rank IC A - B</th><th>t HAC</th><th>rank IC A</th><th>rank IC B</th><th>p</th><th>Holm p</th>"
            f"<th>A vs B</th><th>days</th></tr><tr><td>rev vs walk · reversal</td><td>{ic['rank_ic_diff']:.4f}</td>"
            f"<td>{ic['rank_t_hac']:.2f}</td><td>{ic['rank_ic_a']:.4f}</td><td>{ic['rank_ic_b']:.4f}</td>") in page
    assert page.index("by rank IC (Spearman") < page.index("by IC (Pearson")
    assert "rev&#x27;s reversal higher IC than walk&#x27;s" in page
    assert "rev&#x27;s reversal higher rank IC than walk&#x27;s" in page


def test_the_page_of_identical_runs_says_identical(runs):
    compare_cli(runs / "a", runs / "a2")
    page = (runs / "c.html").read_text(encoding="utf-8")
    assert "class='warning'" not in page and "Settings: the same in every run" in page
    assert "<td>a vs a2 · reversal</td>" in page and "<td>identical</td>" in page
    assert "<td>better</td>" not in page.split("Run against run")[1]


def test_other_risk_free_rates_are_warned_and_the_paired_sharpes_are_each_runs_own(runs):
    """"a" and "rf" trade the same books; "rf" measures Sharpe over 5 %/year. The paired table's Sharpe of each run is
    the one its own summary shows (over its own rate), and the warning names both rates, on the console and page."""
    c = compare_universes([str(runs / "a"), str(runs / "rf")])
    warning = ("⚠ These universe runs measure Sharpe over different risk-free rates (a: 0 %/year; rf: 5 %/year): "
               "each run's Sharpe, Sortino, PSR and DSR below, and the paired Sharpe test, are over its own run's "
               "rate, so part of a difference is the rates'.")
    assert c.warnings == [warning]
    own = c.trading.set_index(["run", "book"])["sharpe"]
    pair = c.paired_trading.set_index("book").loc["reversal:long_short"]
    assert pair["sharpe_a"] == pytest.approx(own["a", "reversal:long_short"], rel=1e-9)
    assert pair["sharpe_b"] == pytest.approx(own["rf", "reversal:long_short"], rel=1e-9)
    assert abs(pair["sharpe_a"] - pair["sharpe_b"]) > 0.05  # the rate moved it: the test could tell the bases apart
    text = said(compare_cli(runs / "a", runs / "rf", columns=200))
    assert text.index("different risk-free rates (a: 0 %/year; rf: 5 %/year)") < text.index("Books across runs")
    assert f"<p class='warning'>{warning.replace(chr(39), '&#x27;')}</p>" in (runs / "c.html").read_text("utf-8")
    assert risk_free_warning({"a": 0.01, "b": 0.01}) is None
