"""The universe run's console summary at terminal widths: lines fit, columns drop whole, numbers never cut."""

import io
import re

import pytest
from rich.console import Console

from backtest.engine.universe import run_universe
from backtest.report.console import BOOK_COLUMNS, IC_COLUMNS, TEST_COLUMNS, render_universe
from backtest.report.universe.page import universe_report_html
from backtest.report.wording import fmt
from backtest.runs.universe import write_universe
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


def pooled_lstm_with_a_long_name(universe, folds, config):
    """A stand-in for a network's panel: yesterday's return (momentum), under a long name."""
    close = universe.field("close")
    return {"pooled_lstm_lookback_240_seed_0": close.pct_change(fill_method=None)}


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uc")
    path = write_long_csv(synthetic_universe(8, 300), tmp / "long.csv")
    result = run_universe(universe_config(path, "universe.target='above_median'"),
                          sources=[pooled_lstm_with_a_long_name])
    return write_universe(result, tmp / "run")


def rendered(summary, width):
    buf = io.StringIO()
    render_universe(summary, Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


def shown_cells(summary, out):
    """Every formatted cell of every column whose label the output shows, with the column's label."""
    ic = summary.ic.copy()
    for key in ("positive", "spread", "accuracy"):
        ic[key] = 100.0 * ic[key]
    for rows, columns in ((ic, IC_COLUMNS), (summary.trading, BOOK_COLUMNS), (summary.trading, TEST_COLUMNS)):
        for key, (label, digits) in columns.items():
            if key in rows and re.search(f"┃ +{re.escape(label)} ┃", out):  # a header ("IC", not "rank IC")
                for value in rows[key]:
                    yield label, fmt(value, digits)


@pytest.mark.parametrize("width", [60, 80, 100])
def test_lines_fit_and_no_number_is_cut(summary, width):
    out = rendered(summary, width)
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    cells = list(shown_cells(summary, out))
    assert cells
    for label, cell in cells:
        assert f" {cell} " in out, (label, cell)


def test_at_80_columns_the_rank_ic_its_test_spread_and_accuracy_come_before_the_pearson_ic(summary):
    out = rendered(summary, 80)
    assert " ".join(out.split()).count("not shown at this width") == 2  # the IC table's and the books' below
    assert "not shown at this width: target turn %" in " ".join(out.split())  # the traded turnover stays
    # the Pearson IC and its test give way first (they are in report.html and metrics.json); ranks are traded
    assert "not shown at this width: IC, IC t, IC vs 0, ICIR, % > 0" in " ".join(out.split())
    assert "│ reversal │ -0.0003 │ -0.01 │ ≈ 0 │ — │ 49.8 │" in " ".join(out.split())  # on open t+1 -> t+2
    assert "Scores across the cross-section, 138 days, on open t+1 → open t+2" in out
    for label in ["rank IC", "rank t", "rank vs 0", "spread %", "acc. %", "gross %", "net %", "Sharpe",
                  "turn %", "max DD %", "PSR", "DSR", "vs EW"]:
        assert f" {label} ┃" in out, label


def test_the_summary_says_survivorship_and_what_loading_did(summary):
    out = " ".join(rendered(summary, 80).split())
    assert "⚠ survivorship bias: Every one of the 8 stocks still trades on the last day" in out
    assert "rows read │ 2,400" in out and "symbols kept │ 8" in out
    assert "fills at the next open" in out and "k = 2, n_drop = 1" in out


def test_at_60_columns_dropped_columns_are_named(summary):
    out = " ".join(rendered(summary, 60).split())
    assert "not shown at this width" in out


def test_the_books_caption_says_the_long_short_exposure(summary):
    text = " ".join(rendered(summary, 80).split())  # the caption wraps
    assert "long_short: 50 % of the value long and 50 % short, the short proceeds financing the long (gross 1)" in text


def test_the_universe_header_says_what_shaped_the_scores_and_the_books():
    """Inputs, processors, target and horizon, the trading pace and groups: one line, from config.toml."""
    from backtest.report.console import universe_setup

    config = {"forecast": {"features": ["close", "volume"], "lookback": 10},
              "universe": {"processors": ["robust_zscore", "clip"], "target": "rank", "horizon": 5,
                           "rebalance": 1, "rebalance_on": "friday", "groups": "../x/sp500_sectors.csv",
                           "neutral": "demean"}}
    assert universe_setup(config) == ("inputs close+volume × 10 days · processors robust_zscore → clip · "
                                      "target rank over 5 days · books trade on friday · "
                                      "groups sp500_sectors.csv (scores demean)")
    plain = {"forecast": {"features": ["close"], "lookback": 5},
             "universe": {"target": "return", "horizon": 1, "rebalance": 5, "rebalance_on": "days",
                          "neutral": "none"}}
    assert universe_setup(plain) == "inputs close × 5 days · target return over 1 day · books trade every 5 days"


def test_a_five_day_target_shows_the_ic_against_its_own_return_beside_the_one_day_table(summary):
    from dataclasses import replace

    ic = summary.ic.assign(ic_h=0.0123, rank_ic_h=-0.0456, t_hac_h=1.5, rank_t_hac_h=-2.25, lags_h=6.0,
                           days_h=134.0)
    config = {**summary.config, "universe": {**summary.config["universe"], "horizon": 5}}
    five = replace(summary, ic=ic, config=config, horizon_return="open t+1 → open t+6")
    out = rendered(five, 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    flat = " ".join(out.split())
    assert "against the 5-day return the target is about, 134 days, on open t+1 → open t+6" in flat
    assert "│ reversal │ -0.0456 │ -2.25 │ 0.0123 │ 1.50 │ 6 │" in flat
    assert "Newey-West with at least 5 - 1 lags" in flat
    assert "the target is about" not in " ".join(rendered(summary, 80).split())  # a one-day target: not shown
    narrow = rendered(five, 60)
    assert max(len(line) for line in narrow.splitlines()) <= 60 and "…" not in narrow
    from backtest.report.universe.page import tables_html

    page = "".join(tables_html(five))
    assert "against the h-day return the target is about (open t+1 → open t+6" in page and "-0.0456" in page


def test_the_header_says_which_prices_were_traded(summary):
    assert summary.manifest["prices"] == "prices: raw, dividends not credited"
    assert "│ prices: raw, dividends not credited" in rendered(summary, 80)
    assert "fills at the next open · prices: raw, dividends not credited</p>" in universe_report_html(summary)


@pytest.mark.parametrize("width", [60, 80])
def test_the_headline_lines_keep_every_word_at_60_and_80_columns(summary, width):
    """The header's setup line and the tear sheet's two lines (turnover; cumulative deciles and long-short books)
    wrap at spaces: every word whole, none cut, no line over the width."""
    from backtest.report.console import _cumulative_line, _tearsheet_line, universe_setup

    out = rendered(summary, width)
    assert max(len(line) for line in out.splitlines()) <= width
    flat = " ".join(out.replace("│", " ").split())  # the header panel's borders out
    lines = [universe_setup(summary.config), _tearsheet_line(summary), _cumulative_line(summary)]
    # 8 stocks make no deciles (fewer than 10 a day): the line has the long-short books only
    assert lines[2].startswith("Cumulative return: long-short before → after costs reversal ")
    assert "pooled_lstm_lookback_240_seed_0" in lines[2] and "top / bottom" not in lines[2]
    for line in lines:
        assert line and " ".join(line.split()) in flat, line
