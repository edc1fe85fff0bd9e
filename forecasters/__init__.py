"""Forecasters: per-fold windows and scaling, the architecture registry, the batched group trainer."""

from forecasters.baselines import naive_forecast
from forecasters.registry import ARCHITECTURES, Architecture, get_architecture
from forecasters.trainer import Member, MemberResult, TrainSettings, train_group
from forecasters.windows import FoldData, fold_data

__all__ = [
    "ARCHITECTURES", "Architecture", "FoldData", "Member", "MemberResult", "TrainSettings",
    "fold_data", "get_architecture", "naive_forecast", "train_group",
]
