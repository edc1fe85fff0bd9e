"""Pooled universe forecasts: panel shape, the member a fold trains, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.engine import pooled
from backtest.engine.forecasting import member_seed
from backtest.engine.schedule import Fold
from forecasters import panel
from forecasters.registry import get_architecture
from forecasters.trainer import Member, TrainSettings, train_group
from tests.conftest import synthetic_prices

CPU = torch.device("cpu")
SETTINGS = TrainSettings(epochs=2, batch_size=64, patience=2)
LOOKBACK = 5
# Two folds on 200 rows: train [0, 80) val [80, 100) test [100, 140); train [40, 120) val [120, 140) test [140, 180).
FOLDS = [Fold(0, 0, 80, 100, 100, 140), Fold(1, 40, 120, 140, 140, 180)]
CUT = 120  # closes after this row are altered in the look-ahead tests


def _universe() -> pd.DataFrame:
    """Eight seeded random walks; S6 is listed on row 30, S7 stops after row 150."""
    close = pd.concat({f"S{k}": synthetic_prices(200, seed=k)["close"] for k in range(8)}, axis=1)
    close.iloc[:30, 6] = np.nan
    close.iloc[151:, 7] = np.nan
    return close


def _altered(close: pd.DataFrame) -> pd.DataFrame:
    out = close.copy()
    rng = np.random.default_rng(99)
    out.iloc[CUT + 1:] *= np.exp(np.cumsum(rng.normal(0.01, 0.05, out.iloc[CUT + 1:].shape), axis=0))
    return out


def _scores(close: pd.DataFrame, target: str = "return") -> dict[str, pd.DataFrame]:
    return pooled.pooled_scores(close, FOLDS, ["lstm"], LOOKBACK, target, seed=3, settings=SETTINGS, device=CPU)


def test_panels_cover_the_test_days_where_a_window_is_complete() -> None:
    close = _universe()
    out = _scores(close)
    assert list(out) == ["lstm", "linear", "reversal", "naive"]
    days = close.index[100:180]
    for frame in out.values():
        assert frame.index.equals(days) and list(frame.columns) == list(close.columns)
    returns = close / close.shift(1) - 1
    complete = returns.rolling(LOOKBACK).count().eq(LOOKBACK).loc[days]
    pd.testing.assert_frame_equal(out["lstm"].notna(), complete, check_freq=False)
    pd.testing.assert_frame_equal(out["linear"].notna(), complete, check_freq=False)
    assert out["lstm"]["S7"].loc[days[51:]].isna().all()  # stopped: no score after its last close
    pd.testing.assert_frame_equal(out["reversal"], -returns.loc[days], check_freq=False)


def test_the_pooled_member_is_the_folds_windows_with_its_stable_seed() -> None:
    close = _universe()
    fold = FOLDS[:1]
    got = pooled.pooled_scores(close, fold, ["lstm"], LOOKBACK, "return", seed=3, settings=SETTINGS, device=CPU)["lstm"]
    w = panel.panel_windows(close.to_numpy(), fold[0].train, fold[0].val, fold[0].test, LOOKBACK)
    member = Member(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, member_seed(3, "lstm", 0, 0))
    plain = train_group(get_architecture("lstm"), [member], SETTINGS, device=CPU)[0]
    expected = panel.to_panel(w.to_target(plain.predictions), w.test_rows, w.test_cols, close.shape)[100:140]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6, equal_nan=True)
    assert np.isfinite(expected).sum() == len(w.x_test) > 0


def _before_cut(frame: pd.DataFrame, close: pd.DataFrame) -> np.ndarray:
    return frame.loc[:close.index[CUT]].to_numpy()


@pytest.mark.parametrize("target", ["return", "median"])
def test_no_score_before_the_cut_moves_when_later_prices_change(target: str) -> None:
    close = _universe()
    base, moved = _scores(close, target), _scores(_altered(close), target)
    for name in ("lstm", "linear", "reversal"):
        np.testing.assert_array_equal(_before_cut(moved[name], close), _before_cut(base[name], close))
    assert not np.allclose(moved["lstm"].iloc[-1].dropna(), base["lstm"].iloc[-1].dropna())  # the change is seen


def test_the_check_catches_scaling_fit_on_all_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel, "fit_rows", lambda train: slice(0, None))
    close = _universe()
    base, moved = _scores(close), _scores(_altered(close))
    for name in ("lstm", "linear"):
        a, b = _before_cut(base[name], close), _before_cut(moved[name], close)
        # The honest run is equal to the bit; leaked scaling moves every score (the Ridge's by ~1e-5 here,
        # its forecasts being ~3e-4: a random walk's best linear forecast is nearly its mean).
        assert np.nanmin(np.abs(a - b)) > 1e-9, name
