"""Pooled windows across a universe: every symbol's return sequences of one fold, stacked into one set.

A close panel is a (dates x symbols) array, NaN where a stock has no price (not listed yet, stopped, a
gap). Day t's one-day return is ``r_t = close_t / close_{t-1} - 1`` (NaN when either close is missing:
a gap is not bridged). A sample is a (decision day t, symbol) pair:

input
    the last ``lookback`` returns up to t, ``r_{t-lookback+1} .. r_t`` (closes ``t-lookback .. t``),
    kept only if all of them exist; standardised with one pooled mean and standard deviation of the
    returns inside the fold's fitting rows (Fischer & Krauss 2018 standardise so).
target
    over the next ``horizon`` days h (1 to 20), dated t (forecasters.crosssection.TARGETS): the return from
    t's close to t+h's (``"return"``; standardised like the inputs when h = 1, else with the mean and
    standard deviation of the training samples' own targets), that return's rank within its day in
    [-1, 1] (``"rank"``) or its z-score within its day (``"zscore"``), or 1/0 for "beats the day's
    cross-sectional median" (``"median"``); the last three unscaled.

More inputs per stock (``inputs``, a list of :class:`InputColumn`): each is a (T, S) panel entering the
window as it is (a derived feature, a factor) or minus an *anchor* on the window's last day t (``ln(open_s) -
ln(close_t)``: the open relative to the stock's last close); a sample needs every value of its window (and
the anchor at t). Each such column is standardised with its own mean and standard deviation over the fold's
training windows (the close's returns keep the pooled scaling above; ``with_returns=False`` leaves them out).

A fold is three row ranges of the calendar (as forecasters.windows.fold_data takes them). The decision
days of a range are its rows. **Purging**: a training sample reads training rows only (its first close
and its target's last close, t+h, inside ``train``), so the last h decision days of ``train`` are dropped;
a validation sample's target ends inside ``val`` likewise. An ``embargo`` of e days drops e more days
before each of the two ends (a target must end at least e rows before the next set begins). A test
sample needs its inputs only (a stock that stops after t still gets a score for t). Nothing here reads a
close after t to build an input dated t, and the scaling reads ``fit_rows(train)`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from forecasters.crosssection import TARGETS as TARGET_FUNCTIONS
from forecasters.processors import FILLS, process, process_target
from forecasters.windows import fit_rows  # the same rule as one symbol: the training rows, nothing later

TARGETS = tuple(TARGET_FUNCTIONS)  # "return", "rank", "zscore", "median"
MAX_HORIZON = 20  # days ahead a target may look: a month of trading days


@dataclass(frozen=True)
class InputColumn:
    """One input per stock and day: (T, S) ``values`` (NaN where there is none), entering a window dated t as
    they are, or as ``values[s] - anchor[t]`` (``anchor`` (T, S); None: as they are)."""

    name: str
    values: np.ndarray
    anchor: np.ndarray | None = None


@dataclass
class PanelWindows:
    """One fold's pooled samples. x: (N, lookback, F) float32 (F = 1: the returns), y: (N,) float32, rows/cols (N,).

    ``*_rows`` are decision-day row positions in the panel, ``*_cols`` symbol column positions, so that
    sample i of a set is (``rows[i]``, ``cols[i]``). ``mean`` and ``std`` are the pooled return scaling of
    the inputs; ``y_mean`` and ``y_std`` the ``"return"`` target's (None: the inputs').
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    train_rows: np.ndarray
    train_cols: np.ndarray
    val_rows: np.ndarray
    val_cols: np.ndarray
    test_rows: np.ndarray
    test_cols: np.ndarray
    mean: float
    std: float
    target: str
    y_mean: float | None = None
    y_std: float | None = None
    names: tuple[str, ...] = ("close",)  # the input columns, in x's last axis
    input_mean: np.ndarray | None = None  # (F,) each column's training-window mean (the returns': ``mean``)
    input_std: np.ndarray | None = None  # (F,) and standard deviation
    target_processors: tuple[str, ...] = ()  # applied to the labels within each day (forecast in their units)

    def to_target(self, predictions: np.ndarray) -> np.ndarray:
        """Network outputs -> forecasts in the target's units: a return, or the 0/1 label's expectation (a return
        label ranked or z-scored within the day by ``target_processors``: that rank or z-score, as it is)."""
        out = np.asarray(predictions, dtype=np.float64)
        if self.target != "return" or self.target_processors:
            return out
        scale = (self.mean, self.std) if self.y_std is None else (self.y_mean, self.y_std)
        return out * scale[1] + scale[0]


def panel_returns(close: np.ndarray) -> np.ndarray:
    """(T, S) one-day simple returns; row 0 and every return touching a missing close are NaN."""
    out = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = close[1:] / close[:-1] - 1.0
    return out


def pooled_scaling(returns: np.ndarray, fit: slice) -> tuple[float, float]:
    """Mean and standard deviation of every return whose two closes lie in the rows ``fit``, all symbols pooled.

    Raises ValueError when fewer than two such returns exist (nothing to standardise with).
    """
    start = (fit.start or 0) + 1
    values = returns[start:fit.stop]
    values = values[np.isfinite(values)]
    if values.size < 2:
        raise ValueError(f"the fitting rows {fit.start}..{fit.stop} hold {values.size} returns; "
                         "at least 2 are needed to standardise. Use more training days.")
    std = float(values.std())
    return float(values.mean()), std if std > 0 else 1.0


def complete_windows(returns: np.ndarray, lookback: int) -> np.ndarray:
    """(T, S) bool: True at (t, s) when ``returns[t-lookback+1 .. t, s]`` all exist (never before row lookback)."""
    missing = np.cumsum(~np.isfinite(returns), axis=0)
    ok = np.zeros(returns.shape, dtype=bool)
    ok[lookback:] = (missing[lookback:] - missing[:-lookback]) == 0
    return ok


def _targets(close: np.ndarray, target: str, horizon: int) -> np.ndarray:
    """(T, S) the target dated t over the next ``horizon`` days; NaN where there is none."""
    return TARGET_FUNCTIONS[target](pd.DataFrame(close), horizon).to_numpy(dtype=np.float64)


def _target_scaling(y: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the training samples' targets (1 when they do not vary)."""
    values = y[rows, cols]
    if values.size < 2:
        raise ValueError(f"the training rows hold {values.size} targets; at least 2 are needed to standardise. "
                         "Use more training days or a shorter horizon.")
    std = float(values.std())
    return float(values.mean()), std if std > 0 else 1.0


def _samples(ok: np.ndarray, y: np.ndarray | None, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column positions of the samples on decision days ``days``: complete inputs (and a target)."""
    keep = ok[days] if y is None else ok[days] & np.isfinite(y[days])
    rows, cols = np.nonzero(keep)
    return days[rows].astype(np.int64), cols.astype(np.int64)


def _stack(view: np.ndarray, rows: np.ndarray, cols: np.ndarray, lookback: int) -> np.ndarray:
    """(N, lookback, 1) float32 windows ending at each (row, col): one gather from the sliding view."""
    return view[rows - lookback + 1, cols][:, :, None]


def _decision_days(train: slice, val: slice, test: slice, lookback: int, horizon: int = 1, embargo: int = 0
                   ) -> list[np.ndarray]:
    """Decision days of each set, purged: training days whose first close lies in ``train`` and whose target
    ends ``embargo`` rows before its end; validation days whose target ends so inside ``val``; every test day."""
    cut = horizon + embargo
    return [np.arange(train.start + lookback, train.stop - cut), np.arange(val.start, max(val.start, val.stop - cut)),
            np.arange(test.start, test.stop)]


def _column_ok(column: InputColumn, lookback: int) -> np.ndarray:
    """(T, S) bool: the column's window ending at t is complete (and its anchor exists at t)."""
    ok = complete_windows(column.values, lookback)
    return ok if column.anchor is None else ok & np.isfinite(column.anchor)


def _cut(columns: list[InputColumn], rows: np.ndarray, cols: np.ndarray, lookback: int) -> np.ndarray:
    """(N, lookback, F) float64 windows of ``columns`` ending at each (row, col), anchored where asked."""
    out = np.empty((len(rows), lookback, len(columns)))
    for f, column in enumerate(columns):
        view = sliding_window_view(column.values, lookback, axis=0)  # (T - L + 1, S, L), no copy
        out[:, :, f] = view[rows - lookback + 1, cols]
        if column.anchor is not None:
            out[:, :, f] -= column.anchor[rows, cols][:, None]
    return out


def _standardise(sets: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Each column scaled by its mean and standard deviation over the training windows (``sets[0]``; missing
    values, kept for a fill processor, left out); float32."""
    train = sets[0].reshape(-1, sets[0].shape[2])
    gaps = bool(np.isnan(train).any())
    mean = (np.nanmean if gaps else np.mean)(train, axis=0) if len(train) else np.zeros(train.shape[1])
    std = (np.nanstd if gaps else np.std)(train, axis=0) if len(train) else np.ones(train.shape[1])
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(np.float32) for x in sets], mean, std


def _inputs(returns_view: np.ndarray | None, columns: list[InputColumn], index: list[tuple[np.ndarray, np.ndarray]],
            lookback: int) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None]:
    """Every set's (N, lookback, F) float32 windows: the scaled returns first (if any), then ``columns``."""
    base = [_stack(returns_view, r, c, lookback) for r, c in index] if returns_view is not None else None
    if not columns:
        return base or [], None, None
    more, mean, std = _standardise([_cut(columns, r, c, lookback) for r, c in index])
    if base is None:
        return more, mean, std
    return [np.concatenate([b, m], axis=2) for b, m in zip(base, more, strict=True)], mean, std


def panel_windows(close: np.ndarray | pd.DataFrame, train: slice, val: slice, test: slice, lookback: int,
                  target: str = "return", horizon: int = 1, embargo: int = 0,
                  inputs: list[InputColumn] | None = None, with_returns: bool = True,
                  processors: list[str] | None = None, target_processors: list[str] | None = None
                  ) -> PanelWindows:
    """Cut one fold's pooled training, validation and test windows from a close panel.

    Parameters
    ----------
    close : np.ndarray or pd.DataFrame
        (T, S) closes, NaN where a stock has no price.
    train, val, test : slice
        The fold's half-open row ranges, in calendar order.
    lookback : int
        Returns per input window (>= 1).
    target : {"return", "rank", "zscore", "median"}
        What a sample dated t learns (see the module's notes).
    horizon : int, default 1
        Days the target looks ahead, 1 to ``MAX_HORIZON``.
    embargo : int, default 0
        Days more than the horizon between a fitting sample's target and the next set (see the notes).
    inputs : list of InputColumn, optional
        More columns per stock and day, after the returns (see the module's notes).
    with_returns : bool
        Whether the close's scaled one-day returns are the first input column (False: ``inputs`` only).
    processors : list of str, optional
        forecasters.processors applied in order to every set's windows after the scaling. With a fill
        processor among them, a window whose ``inputs`` miss a value is kept (the value filled) instead of
        left out; the returns must still be complete.
    target_processors : list of str, optional
        forecasters.processors' ``TARGET`` ones (cs_rank, cs_zscore), applied in order to the ``"return"``
        target's labels within each decision day of each set (the training and the validation samples apart),
        instead of its scaling; the forecasts are then in their units.

    Returns
    -------
    PanelWindows
        Stacked windows and targets with their (decision row, symbol) index.
    """
    _check_args(target, lookback, horizon, embargo)
    if target_processors and target != "return":
        raise ValueError(f"target_processors apply to the 'return' target only. Got target {target!r}.")
    columns = list(inputs or [])
    if not with_returns and not columns:
        raise ValueError("with_returns=False needs at least one input column.")
    values = np.asarray(close, dtype=np.float64)
    returns = panel_returns(values)
    mean, std = pooled_scaling(returns, fit_rows(train))
    scaled = ((returns - mean) / std).astype(np.float32)  # (T, S): the one copy the windows are cut from
    view = sliding_window_view(scaled, lookback, axis=0)  # (T - L + 1, S, L), no copy
    ok = complete_windows(returns, lookback)  # the target's returns need the closes too, with or without inputs
    keep_missing = bool(set(processors or []) & set(FILLS))
    for column in [] if keep_missing else columns:  # a fill processor fills what a column misses
        ok &= _column_ok(column, lookback)
    y = _targets(values, target, horizon)
    days = _decision_days(train, val, test, lookback, horizon, embargo)
    index = [_samples(ok, y, days[0]), _samples(ok, y, days[1]), _samples(ok, None, days[2])]
    (tr, tc), (vr, vc), (sr, sc) = index
    y_mean = y_std = None
    if target == "return" and not target_processors:
        y_mean, y_std = (mean, std) if horizon == 1 else _target_scaling(y, tr, tc)
        y = (y - y_mean) / y_std
    y_train, y_val = (process_target(list(target_processors or []), y[r, c], r) for r, c in index[:2])
    sets, input_mean, input_std = _inputs(view if with_returns else None, columns, index, lookback)
    x_train, x_val, x_test = process(list(processors or []), sets, [r for r, _ in index])
    names = (("close",) if with_returns else ()) + tuple(c.name for c in columns)
    return PanelWindows(
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
        x_test=x_test, train_rows=tr, train_cols=tc, val_rows=vr, val_cols=vc, test_rows=sr, test_cols=sc,
        mean=mean, std=std, target=target,
        y_mean=None if horizon == 1 else y_mean, y_std=None if horizon == 1 else y_std,
        names=names, input_mean=input_mean, input_std=input_std, target_processors=tuple(target_processors or []),
    )


def _check_args(target: str, lookback: int, horizon: int, embargo: int) -> None:
    """Refuse a target, window, horizon or embargo that has no meaning."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}. Got {target!r}.")
    if lookback < 1:
        raise ValueError(f"lookback must be at least 1. Got {lookback}.")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be from 1 to {MAX_HORIZON} days. Got {horizon}.")
    if embargo < 0:
        raise ValueError(f"embargo must be >= 0 days. Got {embargo}.")


def to_panel(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Scatter per-sample values back onto a (T, S) panel, NaN where no sample is."""
    out = np.full(shape, np.nan)
    out[rows, cols] = values
    return out
