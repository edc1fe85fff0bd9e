"""run_universe on a small synthetic long file: folds, scores, books, no look-ahead, score sources."""

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import load_config
from backtest.core.errors import ConfigError, DataError
from backtest.engine.book import book
from backtest.engine.schedule import make_folds
from backtest.engine.universe import BENCHMARK, daily_turnover, equal_weight, run_universe, traded_turnover, turnover
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")


@pytest.fixture(scope="module")
def frames():
    return synthetic_universe(8, 300)


@pytest.fixture(scope="module")
def result(frames, tmp_path_factory):
    path = write_long_csv(frames, tmp_path_factory.mktemp("u") / "long.csv")
    return run_universe(universe_config(path))


def test_out_of_sample_days_are_the_folds_test_blocks(result):
    folds = make_folds(300, result.config.walkforward)
    assert len(result.folds) == len(folds) == 4
    days = result.universe.calendar[160:300]
    for panel in [*result.scores.values(), *result.weights.values(), result.equity]:
        assert panel.index.equals(days)


def test_every_scorer_gets_every_book_and_the_benchmark_is_a_book(result):
    assert list(result.scores) == ["naive", "reversal"]
    books = [f"{s}:{b}" for s in ("naive", "reversal") for b in ("long_short", "long_only", "topk_dropout")]
    books += ["reversal:forecast", "reversal:vote"]  # strategies.rules' universe default; naive forecasts no move
    assert list(result.weights) == [*books, BENCHMARK]
    assert list(result.trading.index) == list(result.equity.columns) == [*books, BENCHMARK]
    assert result.trading.loc[BENCHMARK, "verdict"] == "benchmark"
    assert result.trading_summary["trials"] == 8 and result.trading_summary["benchmark"] == BENCHMARK


def test_reversal_scores_are_minus_the_last_return_on_the_test_days(result, frames):
    close = pd.DataFrame({s: f["close"] for s, f in frames.items()})
    want = -(close / close.shift(1) - 1.0)
    got = result.scores["reversal"]
    pd.testing.assert_frame_equal(got, want.loc[got.index, got.columns], check_names=False, check_freq=False)


def test_reversal_ic_matches_an_independent_pandas_computation(result, frames):
    close = pd.DataFrame({s: f["close"] for s, f in frames.items()})
    open_ = pd.DataFrame({s: f["open"] for s, f in frames.items()})
    score, ahead = -close.pct_change(fill_method=None), open_.shift(-2) / open_.shift(-1) - 1.0  # what books earn
    days = result.scores["reversal"].index
    ic = pd.Series([score.loc[d].corr(ahead.loc[d]) for d in days], index=days).dropna()
    rank = pd.Series([score.loc[d].corr(ahead.loc[d], method="spearman") for d in days], index=days).dropna()
    row = result.ic.loc["reversal"]
    assert row["ic"] == pytest.approx(ic.mean(), abs=1e-12)
    assert row["rank_ic"] == pytest.approx(rank.mean(), abs=1e-12)
    assert row["icir"] == pytest.approx(ic.mean() / ic.std(), abs=1e-12)
    assert row["positive"] == pytest.approx((ic > 0).mean(), abs=1e-12)
    assert row["days"] == len(ic) == len(days) - 2  # the last two days have no fill two days later


def test_naive_scores_tie_so_their_ic_is_undefined(result):
    assert np.isnan(result.ic.loc["naive", "ic"]) and result.ic.loc["naive", "days"] == 0


def test_long_short_book_is_dollar_neutral_with_k_names_a_leg(result):
    w = result.weights["reversal:long_short"]
    assert ((w > 0).sum(axis=1) == 2).all() and ((w < 0).sum(axis=1) == 2).all()
    assert np.allclose(w.sum(axis=1), 0.0) and np.allclose(w.abs().sum(axis=1), 1.0)


def test_costs_lower_every_traded_book(result):
    t = result.trading
    assert (t["mean_net"] < t["mean_gross"]).all()
    assert result.manifest["fills"] == result.fills == "next open"


def test_book_figures_start_on_the_first_day_a_book_can_have_a_return(result):
    """The first out-of-sample day only decides (fills are at the next open): its 0 is left out of the means."""
    days = result.equity.index
    assert result.returns.index.equals(days[1:]) and result.gross_returns.index.equals(days[1:])
    from_value = result.equity.pct_change().iloc[1:]  # day 1 against the initial cash, then day by day
    pd.testing.assert_frame_equal(result.returns, from_value, check_freq=False, rtol=1e-12, atol=1e-12)
    assert result.trading["mean_net"].to_dict() == pytest.approx((100.0 * from_value.mean()).to_dict(), rel=1e-12)


def test_equal_weight_and_turnover_on_a_named_panel():
    close = pd.DataFrame({"A": [1.0, 1.0, np.nan], "B": [1.0, np.nan, 1.0]})
    assert equal_weight(close).to_dict("list") == {"A": [0.5, 1.0, 0.0], "B": [0.5, 0.0, 1.0]}
    # day 0 buys 1.0 (one-way 0.5), day 1 swaps B for A (0.5), day 2 swaps back (1.0): mean (0.5+0.5+1)/3
    assert turnover(equal_weight(close)) == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_turnover_is_what_was_traded_drift_included_on_a_named_panel():
    """A doubles overnight before day 2 (opens = closes), B stays: the 50/50 targets never change after day 0,
    but the book sells 250 of A and buys 250 of B to get back to them (500 traded over a 1,500 book: one-way
    1/6), and sells all 1,500 on the last day."""
    days = pd.bdate_range("2024-01-01", periods=4)
    price = pd.DataFrame({"A": [1.0, 1.0, 2.0, 2.0], "B": [1.0, 1.0, 1.0, 1.0]}, index=days)
    weights = pd.DataFrame(0.5, index=days, columns=["A", "B"])
    pf = book({"ew": weights}, price, price, init_cash=1000.0)
    assert traded_turnover(pf)["ew"].tolist() == pytest.approx([0.0, 0.5, 1.0 / 6.0, 0.5])
    assert daily_turnover(weights).tolist() == [0.5, 0.0, 0.0, 0.0]  # the targets' change misses the drift


def test_a_score_source_plugs_in_beside_the_baselines(frames, tmp_path):
    path = write_long_csv(frames, tmp_path / "long.csv")

    def oracle(universe, folds, config):  # knows what its books will earn: the best score there can be
        open_ = universe.field("open")
        return {"oracle": open_.shift(-2) / open_.shift(-1) - 1.0}

    result = run_universe(universe_config(path), sources=[oracle])
    assert list(result.scores) == ["naive", "reversal", "oracle"]
    assert result.ic.loc["oracle", "rank_ic"] == pytest.approx(1.0)
    assert "oracle:long_short" in result.trading.index
    with pytest.raises(DataError, match="'reversal' is taken"):
        run_universe(universe_config(path), sources=[lambda u, f, c: {"reversal": u.field("close")}])


def test_the_median_target_adds_accuracy(result, frames, tmp_path):
    path = write_long_csv(frames, tmp_path / "long.csv")
    median = run_universe(universe_config(path, "universe.target='above_median'"))
    assert "accuracy" in median.ic.columns and "accuracy" not in result.ic.columns
    assert 0.0 < median.ic.loc["reversal", "accuracy"] < 1.0


def _altered_after(frames, cut):
    """Every price on and after ``cut`` scaled by a random factor per day and symbol (OHLC alike)."""
    rng = np.random.default_rng(7)
    out = {}
    for symbol, frame in frames.items():
        frame = frame.copy()
        later = frame.index >= cut
        factor = rng.uniform(0.9, 1.1, later.sum())
        for col in ("open", "high", "low", "close"):
            frame.loc[later, col] = frame.loc[later, col] * factor
        out[symbol] = frame
    return out


def test_no_look_ahead_prices_after_a_cut_change_nothing_before_it(result, frames, tmp_path):
    cut = result.equity.index[70]
    path = write_long_csv(_altered_after(frames, cut), tmp_path / "altered.csv")
    altered = run_universe(universe_config(path))
    before = result.equity.index < cut
    for name in result.scores:
        pd.testing.assert_frame_equal(altered.scores[name][before], result.scores[name][before])
        assert not altered.scores[name][~before].equals(result.scores[name][~before]) or name == "naive"
    for name in result.weights:
        pd.testing.assert_frame_equal(altered.weights[name][before], result.weights[name][before])
    pd.testing.assert_frame_equal(altered.equity[before], result.equity[before])
    assert not altered.equity[~before].equals(result.equity[~before])


class TestConfig:
    def test_unknown_key_gets_a_suggestion(self):
        with pytest.raises(ConfigError, match="no key 'n_dorp'. Did you mean 'n_drop'"):
            load_config(None, ["universe.n_dorp=1"])

    @pytest.mark.parametrize(("setting", "message"), [
        ("universe.n_drop=3", r"universe.n_drop must be from 0 to universe.k \(2\)"),
        ("universe.min_symbols=3", "universe.min_symbols must be at least 4"),
        ("universe.books=['long_shrt']", "unknown book 'long_shrt'. Did you mean 'long_short'"),
        ("backtest.borrow=1.5", r"backtest.borrow must be a yearly rate in \[0, 1\)"),
        ("universe.memory_gb=0", "universe.memory_gb must be a positive number of GiB"),
        ("universe.networks='per_stock'", "universe.networks: expected one of 'pooled', 'per_symbol'"),
        ("data.source='sample'", 'reads data.source = "csv"'),
        ("backtest.tax=0.003", "backtest.tax = 0.003 does not apply to a universe run: .* no sell-side tax"),
        ("backtest.execution='close'", "does not apply to a universe run: .* no same-close fills"),
        ("strategies.rules=['vot']", "strategies.rules: unknown rule 'vot'. Did you mean 'vote'"),
        ("strategies.rules=['macd', 'macd']", "strategies.rules lists a name twice"),
    ])
    def test_settings_that_have_no_meaning_are_refused(self, setting, message, tmp_path):
        with pytest.raises(ConfigError, match=message):
            universe_config(tmp_path / "x.csv", setting)

    def test_a_universe_batch_may_be_larger_than_its_fitting_days_one_symbols_may_not(self, tmp_path):
        config = universe_config(tmp_path / "x.csv", "training.batch_size=512")  # 120 fitting days x the stocks
        assert config.training.batch_size == 512
        with pytest.raises(ConfigError, match=r"leaves 120 fitting days; need at least lookback \+ 1 = 121"):
            universe_config(tmp_path / "x.csv", "forecast.lookback=120")
        with pytest.raises(ConfigError, match=r"leaves 630 fitting days; need at least lookback \+ batch_size = 645"):
            load_config(None, ["training.batch_size=640"])  # one symbol: 756 - 126 fitting days

    def test_a_single_symbol_config_has_no_universe_section(self):
        assert "universe" not in load_config(None, []).to_dict()
        assert load_config(None, ["universe.enabled=true", "data.source='csv'", "data.path='x'"]).to_dict()[
            "universe"]["k"] == 10
