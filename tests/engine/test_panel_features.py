"""A universe run's inputs per stock (engine.panel_features): values by hand, refusals, warm-up, no look-ahead."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from backtest.core.errors import ConfigError, DataError, DataWarning
from backtest.engine import panel_features as pf
from backtest.engine.pooled import fold_windows
from backtest.engine.schedule import make_folds
from backtest.engine.universe import _load, run_universe
from strategies.features import IndicatorParams
from tests.conftest import synthetic_universe, universe_config, write_long_csv, write_wide_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")
PARAMS = IndicatorParams()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return synthetic_universe(8, 300)


@pytest.fixture(scope="module")
def path(frames, tmp_path_factory):
    return write_long_csv(frames, tmp_path_factory.mktemp("u") / "long.csv")


def _inputs(path, features: list[str], *extra: str):
    config = universe_config(path, f"forecast.features={features}", *extra)
    universe = _load(config)
    folds = make_folds(len(universe.calendar), config.walkforward)
    return universe, folds, pf.panel_inputs(universe, features, PARAMS, folds, config.forecast.lookback)


def test_each_input_is_its_formula_by_hand(frames, path) -> None:
    universe, _, (columns, with_returns) = _inputs(path, ["close", "open", "volume", "ret_5"])
    assert with_returns and [c.name for c in columns] == ["open", "volume", "ret_5"]
    s3 = frames["S3"]
    j, t = universe.symbols.index("S3"), 100
    open_, volume, ret = columns
    # A window dated t reads values[s] - anchor[t]: ln(open_s / close_t), log1p(v_s) - log1p(v_t).
    assert open_.values[t - 2, j] - open_.anchor[t, j] == pytest.approx(np.log(s3["open"].iloc[t - 2]
                                                                               / s3["close"].iloc[t]))
    assert volume.values[t - 1, j] - volume.anchor[t, j] == pytest.approx(np.log1p(s3["volume"].iloc[t - 1])
                                                                          - np.log1p(s3["volume"].iloc[t]))
    assert ret.anchor is None and ret.values[t, j] == pytest.approx(np.log(s3["close"].iloc[t]
                                                                          / s3["close"].iloc[t - 5]))
    assert np.isnan(ret.values[:5, j]).all() and np.isfinite(ret.values[5:, j]).all()  # its warm-up, no more


def test_the_alpha360_preset_is_six_columns_relative_to_today(frames, path) -> None:
    universe, _, (columns, with_returns) = _inputs(path, ["alpha360"])
    assert not with_returns and pf.input_width(["alpha360"]) == 6 == len(columns)
    assert [c.name for c in columns] == ["alpha360:open", "alpha360:high", "alpha360:low", "alpha360:close",
                                         "alpha360:vwap=close", "alpha360:volume"]
    j, t, s0 = universe.symbols.index("S0"), 50, frames["S0"]
    high = columns[1]
    assert high.values[t - 3, j] - high.anchor[t, j] == pytest.approx(np.log(s0["high"].iloc[t - 3]
                                                                             / s0["close"].iloc[t]))
    assert pf.input_width(["close", "alpha360", "rsi_14"]) == 8


def test_a_feature_the_data_lacks_is_refused_with_the_single_symbol_message(frames, tmp_path) -> None:
    wide = write_wide_csv(frames, tmp_path / "wide.csv")
    with pytest.raises(DataError, match=r"forecast.features includes 'volume_rel_20', computed from volume, but "
                                        r"the data has no volume values \(the column is absent or empty\)"):
        _inputs(wide, ["close", "volume_rel_20"], "backtest.execution='next_open'")
    silent = {s: f.assign(volume=0.0) for s, f in frames.items()}
    with pytest.raises(DataError, match="the volume is 0 on every row the folds use"):
        _inputs(write_long_csv(silent, tmp_path / "silent.csv"), ["close", "volume"])


def test_a_warm_up_longer_than_a_fold_can_spare_is_refused_and_a_shorter_one_warned(path) -> None:
    with pytest.raises(DataError, match=r"fold 0 keeps 0 of its 120 fitting days after the warm-up of 'ret_150'"):
        _inputs(path, ["close", "ret_150"])
    with pytest.warns(DataWarning, match=r"1 fold\(s\) fit after the warm-up of 'macd_hist' \(each stock's first 25 "
                                         r"rows.*fold 0 fits on 95 of its 120 days"):
        _inputs(path, ["close", "macd_hist", "rsi_14"])


def test_a_constant_or_infinite_column_is_refused(path) -> None:
    universe, folds, _ = _inputs(path, ["close"])
    flat = pf.InputColumn("factor", np.full((len(universe.calendar), len(universe.symbols)), 2.0))
    with pytest.raises(DataError, match="'factor' is 2 on every .day, stock. the folds read"):
        pf._check_column(flat, universe, slice(0, 300), universe.origin, ["close"])
    flat.values[40, 3] = np.inf
    with pytest.raises(DataError, match=r"'factor' is infinite on 1 \(day, stock\) pair\(s\).*first S3 on"):
        pf._check_column(flat, universe, slice(0, 300), universe.origin, ["close"])


def _altered(frames: dict[str, pd.DataFrame], cut: int) -> dict[str, pd.DataFrame]:
    """Every price and volume from row ``cut`` on scaled by a random factor per day, field and stock."""
    rng = np.random.default_rng(5)
    out = {}
    for symbol, frame in frames.items():
        frame = frame.copy()
        frame.iloc[cut:] = frame.iloc[cut:] * rng.uniform(0.9, 1.1, frame.iloc[cut:].shape)
        frame["high"] = frame[["open", "high", "low", "close"]].max(axis=1)
        frame["low"] = frame[["open", "high", "low", "close"]].min(axis=1)
        out[symbol] = frame
    return out


FEATURES = [["close", "open", "high", "low", "volume"], ["alpha360"],
            ["close", "ret_5", "vol_20", "bb_pctb", "macd_hist", "rsi_14", "volume_rel_20", "atr_14", "ma_gap_20"]]


def _before(windows, cut: int) -> list[np.ndarray]:
    """Every set's windows dated before ``cut``, and the targets (about t + 1) that lie before it too."""
    out = []
    for w in windows:
        for x, y, rows in ((w.x_train, w.y_train, w.train_rows), (w.x_val, w.y_val, w.val_rows),
                           (w.x_test, None, w.test_rows)):
            out += [x[rows < cut]] + ([y[rows + 1 < cut]] if y is not None else [])
    return out


@pytest.mark.parametrize("features", FEATURES, ids=["ohlcv", "alpha360", "derived"])
def test_no_look_ahead_prices_after_a_cut_change_no_window_before_it(frames, path, tmp_path, features) -> None:
    cut = 230  # inside the last fold's training rows: folds 2 and 3 fit on rows after it
    warnings.simplefilter("ignore", DataWarning)
    universe, folds, inputs = _inputs(path, features)
    moved_universe, _, moved = _inputs(write_long_csv(_altered(frames, cut), tmp_path / "moved.csv"), features)
    early = [f for f in folds if f.train_end <= cut]  # folds fitted wholly before the cut
    a = fold_windows(universe.field("close"), early, 5, "return", inputs=inputs[0], with_returns=inputs[1])
    b = fold_windows(moved_universe.field("close"), early, 5, "return", inputs=moved[0], with_returns=moved[1])
    for x, y in zip(_before(a, cut), _before(b, cut), strict=True):
        np.testing.assert_array_equal(x, y)
    assert early and any(not np.array_equal(x, y) for x, y in zip(
        _windows_after(a, cut), _windows_after(b, cut), strict=True))  # the alteration reaches later windows


def _windows_after(windows, cut: int) -> list[np.ndarray]:
    return [w.x_test[w.test_rows >= cut] for w in windows]


def test_the_look_ahead_check_catches_a_column_that_peeks_one_day_ahead(frames, path, tmp_path) -> None:
    cut = 230
    universe, folds, _ = _inputs(path, ["close"])
    moved_universe, _, _ = _inputs(write_long_csv(_altered(frames, cut), tmp_path / "moved.csv"), ["close"])
    early = [f for f in folds if f.train_end <= cut]

    def peeking(u):  # tomorrow's close: the bug the check exists for
        return [pf.InputColumn("peek", np.log(u.field("close").shift(-1).to_numpy()))]

    a = fold_windows(universe.field("close"), early, 5, "return", inputs=peeking(universe))
    b = fold_windows(moved_universe.field("close"), early, 5, "return", inputs=peeking(moved_universe))
    assert any(not np.array_equal(x, y) for x, y in zip(_before(a, cut), _before(b, cut), strict=True))


def test_a_universe_run_reads_only_the_close_unless_told(path) -> None:
    assert universe_config(path).forecast.features == ["close"]
    assert universe_config(path, "forecast.features=['close', 'rsi_14']").forecast.features == ["close", "rsi_14"]
    from backtest.core.config import load_config

    with pytest.raises(ConfigError, match="'alpha360' is a preset of a universe run's inputs"):
        load_config(None, ["forecast.features=['close', 'alpha360']"])
    with pytest.raises(ConfigError, match="must include 'close'"):
        universe_config(path, "forecast.features=['open', 'rsi_14']")


def test_a_run_on_ohlcv_and_derived_inputs_scores_every_test_window(path) -> None:
    warnings.simplefilter("ignore", DataWarning)
    config = universe_config(path, "forecast.features=['close', 'open', 'volume', 'rsi_14']",
                             "forecast.models=['lstm']", "training.epochs=1", "strategies.rules=[]",
                             "universe.books=['long_short']")
    result = run_universe(config)
    assert result.scores["lstm"].notna().equals(result.scores["linear"].notna())  # the same windows
    assert result.scores["lstm"].notna().equals(result.scores["reversal"].notna())  # every stock, every test day
    assert np.isfinite(result.ic.loc["lstm", "ic"]) and np.isfinite(result.ic.loc["linear", "ic"])


def test_a_fold_that_cannot_fit_the_memory_budget_is_refused_before_training(path) -> None:
    config = universe_config(path, "forecast.features=['alpha360']", "forecast.models=['lstm']",
                             "universe.memory_gb=0.001", "strategies.rules=[]")
    with pytest.raises(ConfigError, match=r"universe.memory_gb = 0.001 GiB cannot hold one fold: the largest "
                                          r"needs an estimated .* GiB \(8 stocks, lookback 5, 6 input column\(s\)"):
        run_universe(config)


@pytest.mark.parametrize("processor", ["robust_zscore", "clip", "cs_rank", "cs_rank01", "cs_zscore", "fill_median",
                                       "fill_zero"])
def test_no_processor_lets_prices_after_a_cut_reach_a_window_before_it(frames, path, tmp_path, processor) -> None:
    cut = 230
    features = ["close", "open", "volume", "rsi_14"]
    universe, folds, inputs = _inputs(path, features)
    moved_universe, _, moved = _inputs(write_long_csv(_altered(frames, cut), tmp_path / "moved.csv"), features)
    early = [f for f in folds if f.train_end <= cut]
    a = fold_windows(universe.field("close"), early, 5, "return", inputs=inputs[0], processors=[processor])
    b = fold_windows(moved_universe.field("close"), early, 5, "return", inputs=moved[0], processors=[processor])
    for x, y in zip(_before(a, cut), _before(b, cut), strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_processor_check_catches_a_fit_on_every_set(frames, path, tmp_path, monkeypatch) -> None:
    from forecasters import processors

    def leaky(sets):  # the median and MAD of every window, the test windows after the cut included
        return real([np.concatenate(sets), *sets])[1:]

    real = processors._robust_zscore
    monkeypatch.setattr(processors, "_robust_zscore", leaky)
    cut = 230
    universe, folds, inputs = _inputs(path, ["close", "open"])
    moved_universe, _, moved = _inputs(write_long_csv(_altered(frames, cut), tmp_path / "moved.csv"), ["close", "open"])
    early = [f for f in folds if f.train_end <= cut]
    a = fold_windows(universe.field("close"), early, 5, "return", inputs=inputs[0], processors=["robust_zscore"])
    b = fold_windows(moved_universe.field("close"), early, 5, "return", inputs=moved[0], processors=["robust_zscore"])
    assert any(not np.array_equal(x, y) for x, y in zip(_before(a, cut), _before(b, cut), strict=True))


def test_a_fill_processor_keeps_the_windows_a_missing_input_would_drop(path) -> None:
    universe, folds, (columns, _) = _inputs(path, ["close", "rsi_14"])
    close = universe.field("close")
    dropped = fold_windows(close, folds[:1], 5, "return", inputs=columns)[0]
    kept = fold_windows(close, folds[:1], 5, "return", inputs=columns, processors=["fill_zero"])[0]
    # rsi_14's first 14 rows have no value: fold 0's training windows ending before row 18 need one
    assert len(kept.train_rows) == len(dropped.train_rows) + 8 * (18 - 5)
    assert np.isfinite(kept.x_train).all() and kept.x_train[kept.train_rows < 14][:, -1, 1].tolist() == [0.0] * 8 * 9


def test_processors_are_named_in_the_config_and_run(path) -> None:
    with pytest.raises(ConfigError, match=r"universe.processors: unknown processor 'cs_rnak'. Did you mean 'cs_rank'"):
        universe_config(path, "universe.processors=['cs_rnak']")
    config = universe_config(path, "forecast.features=['close', 'open']", "universe.processors=['robust_zscore', "
                             "'cs_rank']", "forecast.models=['lstm']", "training.epochs=1", "strategies.rules=[]",
                             "universe.books=['long_short']")
    result = run_universe(config)
    assert result.scores["lstm"].notna().equals(result.scores["reversal"].notna())


def test_the_features_example_config_runs_tiny(path, tmp_path) -> None:
    from pathlib import Path

    from backtest.core.config import load_config
    from tests.conftest import UNIVERSE_TINY

    example = Path(__file__).resolve().parents[2] / "configs" / "universe_features.toml"
    shipped = load_config(example)
    assert shipped.forecast.features == ["close", "open", "high", "low", "volume"]
    assert shipped.universe.processors == ["robust_zscore", "clip"] and shipped.universe.horizon == 5
    groups = tmp_path / "groups.csv"
    groups.write_text("Name,sector\n" + "".join(f"S{k},{'AB'[k % 2]}\n" for k in range(8)))
    config = load_config(example, [f"data.path={str(path)!r}", *UNIVERSE_TINY, f"universe.groups={str(groups)!r}",
                                   "training.epochs=1", "forecast.lookback=5", "forecast.models=['lstm16']"])
    result = run_universe(config)
    assert result.scores["lstm16"].notna().to_numpy().mean() > 0.9
    assert np.isfinite(result.ic.loc["lstm16", "ic"])


class TestFactorColumns:
    """forecast.features naming a column of the user's own long file: its level per stock, checked where it enters."""

    @staticmethod
    def with_factor(frames, values=None) -> dict[str, pd.DataFrame]:
        """my_factor = sin(0.1 t + i) + 0.01 t for stock i on day t (or ``values(t, i)``)."""
        out = {}
        for i, (symbol, frame) in enumerate(frames.items()):
            t = np.arange(len(frame))
            out[symbol] = frame.assign(my_factor=np.sin(0.1 * t + i) + 0.01 * t if values is None else values(t, i))
        return out

    @pytest.fixture(scope="class")
    def factor_path(self, frames, tmp_path_factory):
        return write_long_csv(self.with_factor(frames), tmp_path_factory.mktemp("f") / "long.csv")

    def test_a_window_holds_the_factors_level_scaled_on_the_training_windows_by_hand(self, frames, factor_path):
        universe, folds, inputs = _inputs(factor_path, ["close", "my_factor"])
        assert inputs[1] and [c.name for c in inputs[0]] == ["my_factor"] and inputs[0][0].anchor is None
        w = fold_windows(universe.field("close"), folds[:1], 5, "return", inputs=inputs[0])[0]
        level = self.with_factor(frames)
        f = np.column_stack([level[s]["my_factor"].to_numpy() for s in universe.symbols])  # (T, S), by hand
        raw = np.stack([f[r - 4:r + 1, c] for r, c in zip(w.train_rows, w.train_cols, strict=True)])
        mean, sd = raw.mean(), raw.std()
        k = int(np.flatnonzero((w.train_rows == 60) & (w.train_cols == 3))[0])
        np.testing.assert_allclose(w.x_train[k, :, 1], (f[56:61, 3] - mean) / sd, rtol=1e-5)  # its level, days 56..60
        plain = fold_windows(universe.field("close"), folds[:1], 5, "return")[0]
        np.testing.assert_array_equal(w.x_train[:, :, 0], plain.x_train[:, :, 0])  # the returns as without it

    def test_altering_the_factor_after_a_cut_changes_nothing_fitted_or_scored_before_it(self, frames, factor_path,
                                                                                        tmp_path):
        import torch

        from backtest.engine.pooled import pooled_scores
        from forecasters.trainer import TrainSettings

        cut = 230
        rng = np.random.default_rng(9)
        moved = self.with_factor(frames, lambda t, i: np.where(t >= cut, rng.normal(size=len(t)),
                                                                np.sin(0.1 * t + i) + 0.01 * t))
        universe, folds, inputs = _inputs(factor_path, ["close", "my_factor"])
        moved_universe, _, moved_inputs = _inputs(write_long_csv(moved, tmp_path / "moved.csv"),
                                                  ["close", "my_factor"])
        early = [f for f in folds if f.train_end <= cut]
        a = fold_windows(universe.field("close"), early, 5, "return", inputs=inputs[0])
        b = fold_windows(moved_universe.field("close"), early, 5, "return", inputs=moved_inputs[0])
        for x, y in zip(_before(a, cut), _before(b, cut), strict=True):
            np.testing.assert_array_equal(x, y)
        assert any(not np.array_equal(x, y) for x, y in zip(_windows_after(a, cut), _windows_after(b, cut),
                                                             strict=True))  # the alteration reaches later windows

        def scores(u, columns):
            return pooled_scores(u.field("close"), folds, [], 5, "return", 0, TrainSettings(epochs=1),
                                 torch.device("cpu"), inputs=columns)["linear"]

        before, after = scores(universe, inputs), scores(moved_universe, moved_inputs)
        day = universe.calendar[cut]
        pd.testing.assert_frame_equal(before.loc[:day].iloc[:-1], after.loc[:day].iloc[:-1])
        assert not before.loc[day:].equals(after.loc[day:])

    @pytest.mark.parametrize(("values", "message"), [
        (lambda t, i: np.full(len(t), 2.0), r"'my_factor' is 2 on every \(day, stock\) the folds read"),
        (lambda t, i: np.where((t == 40) & (i == 3), np.inf, 0.01 * t + i),
         r"'my_factor' is infinite on 1 \(day, stock\) pair\(s\) the folds read, first S3 on 2015-02-26"),
        (lambda t, i: np.full(len(t), np.nan), r"'my_factor', a column of the file, but it has no value on any "
                                               r"\(day, stock\) the folds read \(2015-01-01 to 2016-02-24\)"),
        (lambda t, i: np.where(t < 130, np.nan, 0.01 * t + i), r"fold 0 keeps 0 of its 120 fitting days after the "
                                                               r"warm-up of 'my_factor'.*or give 'my_factor' values "
                                                               r"from earlier days in the file"),
    ], ids=["constant", "infinite", "empty", "warm-up"])
    def test_a_factor_a_model_cannot_learn_from_is_refused(self, frames, tmp_path, values, message):
        path = write_long_csv(self.with_factor(frames, values), tmp_path / "bad.csv")
        with pytest.raises(DataError, match=message):
            _inputs(path, ["close", "my_factor"])

    def test_a_warm_up_and_later_gaps_are_warned_and_left_out(self, frames, tmp_path):
        def values(t, i):
            return np.where((t < 20) | ((i == 2) & (t == 150)), np.nan, 0.01 * t + i)

        path = write_long_csv(self.with_factor(frames, values), tmp_path / "gaps.csv")
        with pytest.warns(DataWarning) as caught:
            universe, folds, (columns, _) = _inputs(path, ["close", "my_factor"])
        said = " ".join(str(w.message) for w in caught)
        assert "1 fold(s) fit after the warm-up of 'my_factor' (its first 20 rows, to 2015-01-28" in said
        assert "'my_factor' has no value on 1 (day, stock) pair(s) where the stock has a close, first S2 on" in said
        w = fold_windows(universe.field("close"), folds[1:2], 5, "return", inputs=columns)[0]
        gap = (w.train_cols == 2) & (w.train_rows >= 150) & (w.train_rows < 155)
        assert not gap.any() and ((w.train_cols == 2) & (w.train_rows == 155)).any()  # the 5 windows reaching it

    def test_the_config_takes_it_in_a_universe_run_and_refuses_it_for_one_symbol(self, factor_path):
        from backtest.core.config import load_config
        from backtest.engine.universe import data_fingerprint

        config = universe_config(factor_path, "forecast.features=['close', 'my_factor']")
        assert data_fingerprint(_load(config)) != data_fingerprint(_load(universe_config(factor_path)))
        with pytest.raises(ConfigError, match=r"unknown feature 'my_factor'.*A column of your own file \(a factor\) "
                                              r"is read by universe runs only"):
            load_config(None, ["forecast.features=['close', 'my_factor']"])
        with pytest.raises(ConfigError, match="headers are read lower-cased and stripped; write it so"):
            universe_config(factor_path, "forecast.features=['close', 'My_Factor']")
        with pytest.raises(DataError, match="neither a known feature nor a column of the file. Did you mean "
                                            "'my_factor'"):
            _load(universe_config(factor_path, "forecast.features=['close', 'my_factr']"))
