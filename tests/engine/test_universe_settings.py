"""Settings both kinds share, applied by a universe run: each test sets one and shows what it changes there.

The panel: four seeded random walks S0..S3 (``synthetic_prices``) over 120 business days from 2024-01-01, a
long file. Where a setting acts inside one step of the run, the test calls that step of ``engine.universe``
(the loader, the rule books, the trade, the pooled trainer) as ``run_universe`` calls it; the rest run the
whole universe on a fixed score (S0 > S1 > S2 > S3 every day) and a noisy peek at the return it is judged on.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.core.errors import DataError
from backtest.engine.schedule import make_folds
from backtest.engine.universe import (
    BENCHMARK,
    _begin,
    _books,
    _trade,
    configured_universe,
    pooled_source,
    rule_books,
    run_universe,
)
from backtest.kinds import read_folder, write_run
from backtest.scoring import crosssection as xs
from strategies.rulebooks import equal_weights, per_stock
from strategies.signals import macd_state
from tests.conftest import synthetic_prices, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")

DAYS = 120
SMALL = ["universe.min_symbols=2", "universe.k=1", "universe.n_drop=0", "walkforward.train_days=40",
         "walkforward.val_days=10", "walkforward.test_days=20", "universe.books=['long_only']",
         "strategies.rules=[]", "statistics.bootstrap_reps=100", "statistics.pbo_blocks=4"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {f"S{k}": synthetic_prices(DAYS, seed=k, start="2024-01-01") for k in range(4)}


@pytest.fixture(scope="module")
def path(frames, tmp_path_factory) -> Path:
    return write_long_csv(frames, tmp_path_factory.mktemp("settings") / "four.csv")


def _config(path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return universe_config(path, *SMALL, *extra)


def _fixed(universe, folds, config):  # type: ignore[no-untyped-def]
    return {"fixed": pd.DataFrame({"S0": 0.04, "S1": 0.03, "S2": 0.02, "S3": 0.01}, index=universe.calendar)}


def _peek(universe, folds, config):  # type: ignore[no-untyped-def]
    """A scorer that reads the return its books would earn, drowned in seeded noise: its IC's Holm p is 0.09
    (beside reversal's)."""
    ahead = xs.earnable_return(universe.field("open"))
    return {"peek": ahead + np.random.default_rng(1).normal(0.0, 0.3, ahead.shape)}


@pytest.fixture(scope="module")
def base(path):  # type: ignore[no-untyped-def]
    return run_universe(_config(path), [_fixed, _peek])


def _dated_file(path: Path, frames: dict[str, pd.DataFrame], dated) -> Path:  # type: ignore[no-untyped-def]
    """The long file with each day written by ``dated``."""
    parts = [f.rename(columns=str.title).assign(Date=[dated(d) for d in f.index], Name=s) for s, f in frames.items()]
    pd.concat(parts)[["Date", "Open", "High", "Low", "Close", "Volume", "Name"]].to_csv(path, index=False)
    return path


# -- the loader: data.end, data.date_format, data.timezone -------------------------------------------------------

def test_data_end_cuts_every_stocks_last_day(path):
    whole = configured_universe(_config(path)).calendar
    cut = configured_universe(_config(path, "data.end='2024-03-29'")).calendar  # the end is exclusive
    assert whole[-1] == pd.Timestamp("2024-06-14") and cut[-1] == pd.Timestamp("2024-03-28")
    assert cut.equals(whole[whole < "2024-03-29"])


def test_data_date_format_says_how_undecidable_dates_read(frames, tmp_path):
    # 2024-03-04 and 2024-04-04 written "%m/%d/%Y": no day above 12, and neither reading gives consecutive days
    dates = pd.DatetimeIndex(["2024-03-04", "2024-04-04"], name="date")
    two = {s: f.iloc[:2].set_axis(dates) for s, f in frames.items()}
    file = _dated_file(tmp_path / "mdy.csv", two, lambda d: d.strftime("%m/%d/%Y"))
    with pytest.raises(DataError, match="can be read day-first or month-first.*data.date_format"):
        configured_universe(_config(file))
    month_first = configured_universe(_config(file, "data.date_format='%m/%d/%Y'")).calendar
    day_first = configured_universe(_config(file, "data.date_format='%d/%m/%Y'")).calendar
    assert list(month_first) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-04-04")]
    assert list(day_first) == [pd.Timestamp("2024-04-03"), pd.Timestamp("2024-04-04")]


def test_data_timezone_dates_utc_times_on_the_exchanges_day(frames, tmp_path):
    # Taipei midnight is 16:00 UTC the day before: each time converted to Asia/Taipei is the file's day again
    file = _dated_file(tmp_path / "utc.csv", frames,
                       lambda d: (d - pd.Timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    with pytest.raises(DataError, match="Set data.timezone to the exchange's zone"):
        configured_universe(_config(file))
    taipei = configured_universe(_config(file, "data.timezone='Asia/Taipei'"))
    assert taipei.calendar.equals(frames["S0"].index.rename(taipei.calendar.name))


# -- the rule books: strategies.threshold, macd_fast/slow/signal, combine ----------------------------------------

def _rule_books(path: Path, *extra: str) -> dict[str, pd.DataFrame]:
    config = _config(path, *extra)
    universe = configured_universe(config)
    days = universe.calendar[60:]
    return rule_books(_fixed(universe, [], config), config, universe.field("close"), days)


def test_strategies_threshold_holds_only_the_scores_above_it(path):
    # the fixed score is 4, 3, 2, 1 %: above 0 all four are held (1/4 each), above 2.5 % only S0 and S1 (1/2 each)
    low = _rule_books(path, "strategies.rules=['forecast']")["fixed:forecast"]
    high = _rule_books(path, "strategies.rules=['forecast']", "strategies.threshold=0.025")["fixed:forecast"]
    assert (low == 0.25).all().all()
    assert (high[["S0", "S1"]] == 0.5).all().all() and (high[["S2", "S3"]] == 0.0).all().all()


@pytest.mark.parametrize(("key", "value"), [("macd_fast", 5), ("macd_slow", 15), ("macd_signal", 3)])
def test_the_macd_book_reads_each_macd_setting(path, key, value):
    params = {"macd_fast": 12, "macd_slow": 26, "macd_signal": 9} | {key: value}
    config = _config(path)
    close = configured_universe(config).field("close")
    days = close.index[60:]
    book = _rule_books(path, "strategies.rules=['macd']", f"strategies.{key}={value}")["macd"]
    fast, slow, signal = params.values()
    want = equal_weights(per_stock(close, lambda c: macd_state(c, fast, slow, signal)).reindex(days).astype(bool))
    pd.testing.assert_frame_equal(book, want, check_freq=False, check_names=False)
    assert not book.equals(_rule_books(path, "strategies.rules=['macd']")["macd"])


def test_strategies_combine_joins_the_forecast_and_macd_by_all_or_any(path):
    # every stock's forecast says hold (score > 0): with all the book is the MACD's, with any every stock always
    rules = "strategies.rules=['forecast+macd', 'macd']"
    both = _rule_books(path, rules)
    either = _rule_books(path, rules, "strategies.combine='any'")
    pd.testing.assert_frame_equal(both["fixed:forecast+macd"], both["macd"])
    assert (either["fixed:forecast+macd"] == 0.25).all().all() and not both["macd"].eq(0.25).all().all()


def test_universe_books_are_the_books_each_scorer_gets(path):
    config = _config(path, "universe.books=['long_short', 'long_only']")
    universe = configured_universe(config)
    days = universe.calendar[60:]
    scores = _fixed(universe, [], config)
    weights = _books(scores, config, universe.field("close"), days)
    assert list(weights) == ["fixed:long_short", "fixed:long_only", BENCHMARK]
    assert weights["fixed:long_only"].iloc[0].tolist() == [1.0, 0.0, 0.0, 0.0]  # k = 1: S0 alone
    assert weights["fixed:long_short"].iloc[0].tolist() == [0.5, 0.0, 0.0, -0.5]  # leg 0.5 each side
    assert list(_books(scores, _config(path), universe.field("close"), days)) == ["fixed:long_only", BENCHMARK]


# -- the trade and the run: backtest.slippage, walkforward.max_folds, statistics.significance, run.out_dir -------

def test_backtest_slippage_moves_every_fill_against_the_book(path, base):
    config = _config(path, "backtest.fees=0.0", "backtest.slippage=0.0")
    universe = configured_universe(config)
    days = base.equity.index
    weights = {"all_in": pd.DataFrame({"S0": 1.0, "S1": 0.0, "S2": 0.0, "S3": 0.0}, index=days)}
    free = _trade(weights, universe, days, config)[0].value()
    slipped = _trade(weights, universe, days, _config(path, "backtest.fees=0.0", "backtest.slippage=0.01"))[0].value()
    # all in S0 at the second day's open, held: the same cash buys S0 at 1 % above the open, so 1/1.01 of the shares;
    # the last day sells them at 1 % below its open
    np.testing.assert_allclose(slipped.iloc[1:-1], free.iloc[1:-1] / 1.01, rtol=1e-9)
    assert slipped.iloc[-1] == pytest.approx(free.iloc[-1] / 1.01 * 0.99, rel=1e-9)


def test_walkforward_max_folds_keeps_the_last_folds(path, base):
    one = run_universe(_config(path, "walkforward.max_folds=1"), [_fixed])
    assert len(base.folds) == 4 and len(one.folds) == 1
    assert one.equity.index.equals(base.equity.index[-20:])  # the last fold's 20 test days


def test_statistics_significance_is_the_level_of_every_verdict(path, base):
    loose = run_universe(_config(path, "statistics.significance=0.2"), [_fixed, _peek])
    pd.testing.assert_frame_equal(loose.returns, base.returns)  # the level changes no trade
    assert base.trading_summary["significance"] == 0.05 and loose.trading_summary["significance"] == 0.2
    p, called = base.ic["ic_p_holm"], ["IC > 0", "IC < 0"]  # the same p-values, read at each level
    pd.testing.assert_series_equal(loose.ic["ic_p_holm"], p)
    assert ((p < 0.05) == base.ic["ic_verdict"].isin(called)).all()
    assert ((p < 0.2) == loose.ic["ic_verdict"].isin(called)).all()
    assert base.ic.loc["peek", "ic_verdict"] != "IC > 0" and loose.ic.loc["peek", "ic_verdict"] == "IC > 0"


def test_run_out_dir_is_where_the_universe_folder_goes(base, tmp_path):
    config = _config(Path(str(base.config.data.path)), f"run.out_dir={str(tmp_path / 'elsewhere')!r}",
                     "run.name='u'")
    folder = write_run(replace(base, config=config))
    assert folder == tmp_path / "elsewhere" / "u" and read_folder(folder).manifest["kind"] == "universe"


# -- the pooled trainer: walkforward.window, forecast.seeds, training.lr, min_delta, restore_best; run.threads -----

TINY_NET = ["networks.tiny.cell='lstm'", "networks.tiny.hidden=[2]", "forecast.models=['tiny']",
            "forecast.lookback=3", "training.epochs=4", "training.patience=4", "training.batch_size=64",
            "training.lr=0.1"]  # a step large enough that the validation loss is not best at the last epoch


def _pooled(path: Path, *extra: str) -> dict[str, pd.DataFrame]:
    config = _config(path, *TINY_NET, *extra)
    universe = configured_universe(config)
    folds = make_folds(len(universe.calendar), config.walkforward)
    return pooled_source(universe, folds, config, threads=1)


@pytest.fixture(scope="module")
def pooled(path) -> dict[str, pd.DataFrame]:
    return _pooled(path)


def test_walkforward_window_fits_the_pooled_linear_model_on_its_rows(path, pooled):
    expanding = _pooled(path, "walkforward.window='expanding'")
    days = pooled["linear"].index
    first = days[:20]  # the first fold trains on rows 0..50 either way; the later ones on every row before them
    pd.testing.assert_frame_equal(expanding["linear"].loc[first], pooled["linear"].loc[first])
    assert not np.allclose(expanding["linear"].loc[days[20:]], pooled["linear"].loc[days[20:]], equal_nan=True)


@pytest.mark.parametrize(("before", "setting"), [
    ("", "forecast.seeds=2"), ("", "training.lr=0.01"), ("", "training.min_delta=1.0"),
    ("", "training.restore_best=false"), ("", "training.epochs=2"), ("", "training.patience=1"),
    ("", "training.batch_size=16"), ("", "training.optimizer='sgd'"), ("", "training.shuffle=false"),
    ("training.patience=1", "training.early_stopping=false"), ("training.optimizer='sgd'", "training.momentum=0.9"),
], ids=lambda v: v or "-")
def test_each_training_setting_changes_the_pooled_networks_scores(path, pooled, before, setting):
    first = _pooled(path, before) if before else pooled
    other = _pooled(path, *filter(None, [before, setting]))
    pd.testing.assert_frame_equal(other["linear"], first["linear"])  # the linear model trains on nothing of it
    assert other["tiny"].notna().equals(first["tiny"].notna())
    assert not np.allclose(other["tiny"], first["tiny"], equal_nan=True), setting


def test_universe_memory_gb_trains_the_folds_in_chunks_saved_one_by_one(path, pooled):
    saved: list[int] = []

    class Store:
        def load(self, index, folds, models):  # type: ignore[no-untyped-def]
            return None

        def save(self, index, folds, parts):  # type: ignore[no-untyped-def]
            saved.append(index)

    config = _config(path, *TINY_NET, "universe.memory_gb=0.0001")  # ~107 kB: one fold needs ~77 kB
    universe = configured_universe(config)
    folds = make_folds(len(universe.calendar), config.walkforward)
    chunked = pooled_source(universe, folds, config, threads=1, store=Store())  # type: ignore[arg-type]
    assert len(folds) == 4 and saved == [0, 1, 2, 3]  # one fold a chunk (the default 2 GiB holds all four at once)
    for name in ("tiny", "linear"):  # the same members on the same windows
        pd.testing.assert_frame_equal(chunked[name], pooled[name])


def test_run_threads_is_the_count_the_pooled_networks_train_with_and_resume_pins(path):
    pinned = {}

    class Store:
        def begin(self, identity, fingerprint, resume):  # type: ignore[no-untyped-def]
            pinned.update(identity["run"])

    before = torch.get_num_threads()
    try:
        config = _config(path, *TINY_NET, "run.threads=1")
        assert _begin(configured_universe(config), config, Store(), False) == 1
        assert torch.get_num_threads() == 1 and pinned["threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert _begin(configured_universe(_config(path)), _config(path), None, False) is None  # no network: no threads
