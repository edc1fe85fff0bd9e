"""Finished work saved as it finishes, so a killed run resumes without losing it.

Each architecture's group is saved to ``<run>/partial/<model>.predictions.csv`` and ``.folds.csv``
(atomically) the moment it finishes training. ``partial/state.json`` pins the resolved config and the
data fingerprint; a resume with anything different is refused with the differences named. Groups are
independent (each member draws from its own seed), so skipping finished groups gives byte-identical
final results; work inside an unfinished group is redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.artifacts import atomic_write_csv, atomic_write_json
from backtest.errors import RunDirError

IGNORED = {("run", "name"), ("run", "out_dir"), ("run", "device")}  # do not change results


def _flatten(config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, values in config.items() for k, v in values.items() if (s, k) not in IGNORED}


class Checkpoint:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "partial"

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool) -> list[str]:
        """Pin this run's identity; when resuming, check it matches. Returns the models already done."""
        # data.refresh says how the prices were obtained, not what they are: the fingerprint covers that.
        flat = {k: v for k, v in _flatten(config).items() if k != "data.refresh"}
        state = {"config": flat, "data_fingerprint": data_fingerprint}
        path = self.dir / "state.json"
        if resume and path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            changes = [f"{k}: {old['config'].get(k)!r} -> {v!r}" for k, v in state["config"].items()
                       if old["config"].get(k) != v]
            if old["data_fingerprint"] != data_fingerprint:
                changes.append("the price data (its fingerprint) differs")
            if changes:
                raise RunDirError(
                    f"cannot resume {self.dir.parent}: the run changed since it started ({'; '.join(changes)}). "
                    "Resume with the original config and data, or start a new run without --resume."
                )
            return [p.name.removesuffix(".predictions.csv") for p in sorted(self.dir.glob("*.predictions.csv"))
                    if (self.dir / p.name.replace(".predictions.csv", ".folds.csv")).is_file()]
        for stale in self.dir.glob("*.csv"):
            stale.unlink()
        atomic_write_json(path, state)
        return []

    def save(self, model: str, predictions: pd.DataFrame, fold_log: pd.DataFrame) -> None:
        atomic_write_csv(self.dir / f"{model}.predictions.csv", predictions)
        atomic_write_csv(self.dir / f"{model}.folds.csv", fold_log)  # written second: marks the group done

    def load(self, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        preds = pd.read_csv(self.dir / f"{model}.predictions.csv", float_precision="round_trip")
        log = pd.read_csv(self.dir / f"{model}.folds.csv", float_precision="round_trip",
                          dtype={"train_curve": str, "val_curve": str})
        return preds, log
