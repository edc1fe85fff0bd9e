"""Forecasters: per-fold windows and scaling, the registry of architectures and baselines, the batched
group trainer.

    from forecasters import ARCHITECTURES, train_group, fold_data

Names load on first use, so reading the registry (``forecasters.registry``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "naive_forecast": "baselines", "drift_forecast": "baselines", "fit_linear": "baselines",
    "ARCHITECTURES": "registry", "Architecture": "registry", "forecasters": "registry", "NAIVE": "registry",
    "get_architecture": "registry", "Member": "trainer", "MemberResult": "trainer", "TrainSettings": "trainer",
    "train_group": "trainer", "FoldData": "windows", "fold_data": "windows",
    "last_return": "crosssection", "naive_scores": "crosssection", "reversal_scores": "crosssection",
    "next_return": "crosssection", "above_median_target": "crosssection", "forward_return": "crosssection",
    "rank_target": "crosssection", "zscore_target": "crosssection",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"forecasters.{_WHERE[name]}"), name)
