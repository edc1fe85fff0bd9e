"""Processors of a universe's pooled windows, applied in order to every column of every window.

Two kinds, as qlib's data handlers have them:

fitted on the fold's training windows only (``FITTED``)
    ``robust_zscore``: ``(x - median) / (1.4826 * MAD)`` per column, median and MAD (median absolute
    deviation) of the training windows' values, as qlib's RobustZScoreNorm; ``clip``: each column clipped to
    the 1st and 99th percentiles of its training values. The validation and test windows are transformed with
    the training figures, never refitted.
within each day's cross-section (``DAILY``)
    computed over the samples of one decision day (every stock with a window that day), for each column and
    lag on its own: ``cs_rank`` (the rank scaled to [-1, 1]), ``cs_rank01`` (to [0, 1]), ``cs_zscore``
    (minus the day's mean, over its standard deviation; 0 when the day's values are all equal),
    ``fill_median`` (a missing value takes the day's median; 0 when the day has none) and ``fill_zero`` (it
    takes 0). A day's values
    are known that day, so nothing here reads a later day.

``x`` is (N, lookback, F) float32; ``rows`` (N,) the decision day of each sample. NaN (a value missing
where a fill processor will fill it) is left out of every figure and kept as NaN until a fill fills it.

On the target (``TARGET``, ``process_target``): ``cs_rank`` and ``cs_zscore`` map each day's training (or
validation) labels to their rank in [-1, 1] or their z-score among that day's samples, as qlib's CSRankNorm
on its label. Both keep a label centred on 0, as the forecast rule reads a score. The fitted ones, the fills
and ``cs_rank01`` are refused there (``target_refusal``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FITTED = ("robust_zscore", "clip")
DAILY = ("cs_rank", "cs_rank01", "cs_zscore", "fill_median", "fill_zero")
PROCESSORS = (*FITTED, *DAILY)
FILLS = ("fill_median", "fill_zero")
TARGET = ("cs_rank", "cs_zscore")  # the processors a return label may take (universe.target_processors)
MAD_NORMAL = 1.4826  # MAD x this is the standard deviation of a normal distribution
CLIP = (1.0, 99.0)  # percentiles of the training values a column is clipped to


def _flat(x: np.ndarray) -> np.ndarray:
    """(N, L, F) -> (N, L * F): one column per lag and feature."""
    return x.reshape(len(x), -1)


def _robust_zscore(sets: list[np.ndarray]) -> list[np.ndarray]:
    train = sets[0].reshape(-1, sets[0].shape[2])  # every training value of each feature
    median = np.nanmedian(train, axis=0)
    mad = MAD_NORMAL * np.nanmedian(np.abs(train - median), axis=0)
    mad = np.where(mad > 0, mad, 1.0)
    return [((x - median) / mad).astype(np.float32) for x in sets]


def _clip(sets: list[np.ndarray]) -> list[np.ndarray]:
    train = sets[0].reshape(-1, sets[0].shape[2])
    low, high = np.nanpercentile(train, CLIP, axis=0)
    return [np.clip(x, low, high).astype(np.float32) for x in sets]


def _daily(name: str, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One within-day processor on one set."""
    if not len(x):
        return x
    frame = pd.DataFrame(_flat(x).astype(np.float64))
    days = frame.groupby(rows)
    if name in ("cs_rank", "cs_rank01"):
        count = days.transform("count")
        unit = ((days.rank(method="average") - 1) / (count - 1)).where(count > 1, 0.5)
        out = unit * 2 - 1 if name == "cs_rank" else unit
    elif name == "cs_zscore":
        std = days.transform(lambda c: c.std(ddof=0))
        out = ((frame - days.transform("mean")) / std.where(std > 0)).where(std > 0, 0.0).where(frame.notna())
    elif name == "fill_median":
        out = frame.fillna(days.transform("median")).fillna(0.0)  # a day with no value at all: 0
    else:
        out = frame.fillna(0.0)
    return out.to_numpy(dtype=np.float32).reshape(x.shape)


def process(names: list[str], sets: list[np.ndarray], rows: list[np.ndarray]) -> list[np.ndarray]:
    """Apply the processors ``names`` in order to a fold's sets (training first), with their decision days.

    Raises ValueError for an unknown name.
    """
    for name in names:
        if name == "robust_zscore":
            sets = _robust_zscore(sets)
        elif name == "clip":
            sets = _clip(sets)
        elif name in DAILY:
            sets = [_daily(name, x, r) for x, r in zip(sets, rows, strict=True)]
        else:
            raise ValueError(f"unknown processor {name!r}. Known: {', '.join(PROCESSORS)}.")
    return sets


_TARGET_REFUSALS = {
    **{name: "it is fitted on the training values, and a forecast in its units has no way back to a return "
             "(clip has no inverse; robust_zscore only rescales, which the return target's own scaling does)"
       for name in FITTED},
    **{name: "a sample without a label is left out of training, so there is nothing to fill" for name in FILLS},
    "cs_rank01": "it centres the label on 0.5, while the forecast rule reads a score above 0 as up; cs_rank is the "
                 "same ranking in [-1, 1]",
}


def target_refusal(name: str) -> str | None:
    """Why ``name`` cannot process a return label (None: it can)."""
    if name in TARGET:
        return None
    return _TARGET_REFUSALS.get(name, f"it is not a processor. Known: {', '.join(PROCESSORS)}")


def process_target(names: list[str], y: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Apply the within-day processors ``names`` in order to one set's labels ``y`` (N,), grouped by their decision
    days ``rows`` (N,): each label's rank in [-1, 1] or z-score among the day's samples. float32.

    Raises ValueError for a name ``target_refusal`` refuses.
    """
    out = np.asarray(y, dtype=np.float64).reshape(-1, 1, 1)
    for name in names:
        why = target_refusal(name)
        if why is not None:
            raise ValueError(f"{name!r} does not process a target: {why}.")
        out = _daily(name, out, rows)
    return out.reshape(-1).astype(np.float32)
