"""Forecasts across a universe: per fold, one pooled network trained on every symbol's windows.

For each architecture, every fold x seed is one member of one batched group (forecasters.trainer via
``forecasting.train_members``), trained on the fold's pooled windows (forecasters.panel). Beside the
networks: the pooled linear baseline (Ridge on the same windows, penalty picked on the validation rows,
forecasters.baselines.fit_linear), the short-term reversal rule and the naive forecast
(forecasters.crosssection).

Every result is a score panel: index = decision day t (the close at which the score is known), columns
= symbols, value = the forecast of day t+1's return (target ``"return"``) or of the chance to beat t+1's
cross-sectional median (target ``"median"``), NaN where there is no forecast. Rows are the folds' test
days.

The classification target is trained with training.loss: by default the mean squared error on the 0/1
label, whose minimiser is the label's conditional probability, so the output estimates the probability
(it is not clipped to [0, 1]; a ranking does not need that); with ``loss = "bce"`` the binary
cross-entropy on the output as a logit, and the forecast is its sigmoid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from backtest.engine.forecasting import Progress, member_seed, train_members
from backtest.engine.schedule import Fold
from forecasters.baselines import fit_linear
from forecasters.crosssection import naive_scores, reversal_scores
from forecasters.panel import PanelWindows, panel_windows, to_panel
from forecasters.registry import Architecture, get_architecture
from forecasters.trainer import Member, TrainSettings

BASELINES = ("linear", "reversal", "naive")  # scored beside the networks in every universe run


def fold_windows(close: pd.DataFrame, folds: list[Fold], lookback: int, target: str) -> list[PanelWindows]:
    """Every fold's pooled windows, scaled on its own training rows."""
    values = close.to_numpy(dtype=np.float64)
    return [panel_windows(values, f.train, f.val, f.test, lookback, target) for f in folds]


def pooled_members(model: str, folds: list[Fold], windows: list[PanelWindows], seed: int, seeds: int
                   ) -> list[Member]:
    """One member per fold and seed of ``model``, in fold order, each with its stable seed."""
    return [Member(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test, member_seed(seed, model, f.index, k))
            for f, w in zip(folds, windows, strict=True) for k in range(seeds)]


def _to_frame(close: pd.DataFrame, folds: list[Fold], per_fold: list[tuple[np.ndarray, PanelWindows]]
              ) -> pd.DataFrame:
    """Per-fold forecasts (in target units, one per test sample) as a score panel over the folds' test days."""
    shape = close.shape
    panel = np.full(shape, np.nan)
    for values, w in per_fold:
        part = to_panel(values, w.test_rows, w.test_cols, shape)
        panel = np.where(np.isnan(part), panel, part)
    days = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    return pd.DataFrame(panel[days], index=close.index[days], columns=close.columns)


def network_scores(arch: Architecture, close: pd.DataFrame, folds: list[Fold], windows: list[PanelWindows],
                   seed: int, seeds: int, settings: TrainSettings, device: torch.device,
                   progress: Progress | None = None) -> pd.DataFrame:
    """Score panel of one architecture: all its folds x seeds trained as one group, seeds averaged per fold."""
    members = pooled_members(arch.name, folds, windows, seed, seeds)
    results, _ = train_members(arch, members, settings, device, progress)
    per_fold = []
    for i, w in enumerate(windows):
        group = results[i * seeds:(i + 1) * seeds]
        per_fold.append((w.to_target(np.mean([r.predictions for r in group], axis=0)), w))
    return _to_frame(close, folds, per_fold)


def linear_scores(close: pd.DataFrame, folds: list[Fold], windows: list[PanelWindows]) -> pd.DataFrame:
    """Score panel of the pooled Ridge baseline, fit per fold on the same windows as the networks."""
    per_fold = []
    for w in windows:
        fit = fit_linear(w.x_train, w.y_train, w.x_val, w.y_val, w.x_test)
        per_fold.append((w.to_target(fit.predictions), w))
    return _to_frame(close, folds, per_fold)


def rule_scores(rule: Callable[[pd.DataFrame], pd.DataFrame], close: pd.DataFrame, folds: list[Fold]
                ) -> pd.DataFrame:
    """A fitted-nothing rule's score panel (forecasters.crosssection), on the folds' test days."""
    days = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    return rule(close).iloc[days]


def pooled_scores(close: pd.DataFrame, folds: list[Fold], models: list[str], lookback: int, target: str,
                  seed: int, settings: TrainSettings, device: torch.device, progress: Progress | None = None,
                  seeds: int = 1, networks: list[Architecture] | None = None) -> dict[str, pd.DataFrame]:
    """Score panels of every pooled network in ``models`` and of the universe baselines.

    Parameters
    ----------
    close : pd.DataFrame
        Close panel (dates x symbols), NaN where a stock has no price.
    folds : list of Fold
        The walk-forward folds (row positions into ``close``).
    models : list of str
        Architectures (forecasters.registry); names in ``BASELINES`` are skipped here, as they are
        always scored.
    lookback, target : int, str
        Returns per input window; ``"return"`` or ``"median"`` (see forecasters.panel).
    seed, seeds : int
        The run's seed, and the seeds trained per fold (their forecasts averaged).
    settings, device, progress
        The trainer's settings, the device, and the live display's hooks.
    networks : list of Architecture, optional
        The run's custom architectures ([networks.NAME]) that ``models`` may name beside the presets.

    Returns
    -------
    dict of str to pd.DataFrame
        Model name -> score panel (decision day t x symbol), networks first, then ``BASELINES``.
    """
    windows = fold_windows(close, folds, lookback, target)
    out = {m: network_scores(get_architecture(m, networks or []), close, folds, windows, seed, seeds, settings,
                             device, progress)
           for m in models if m not in BASELINES}
    out["linear"] = linear_scores(close, folds, windows)
    out["reversal"] = rule_scores(reversal_scores, close, folds)
    naive = rule_scores(naive_scores, close, folds)
    out["naive"] = naive + 0.5 if target == "median" else naive  # the median label's naive chance is 1/2
    return out
