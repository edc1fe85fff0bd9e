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

from backtest.core.errors import RunDirError
from backtest.core.files import atomic_write_csv, atomic_write_json
from backtest.runs.folder import start_run_dir

# Settings that do not change results. run.threads does (in the last bits: torch splits sums by thread),
# so the engine pins the thread count it resolved and a resume with another count is refused.
IGNORED = {("run", "name"), ("run", "out_dir"), ("run", "device")}


def _flatten(config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, values in config.items() for k, v in values.items() if (s, k) not in IGNORED}


class Checkpoint:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "partial"

    def saved(self) -> list[str]:
        """The architectures whose finished group is saved here (predictions and fold log both written)."""
        return [p.name.removesuffix(".folds.csv") for p in sorted(self.dir.glob("*.folds.csv"))
                if (self.dir / p.name.replace(".folds.csv", ".predictions.csv")).is_file()]

    def split(self, models: list[str]) -> tuple[list[str], list[str]]:
        """``models`` as (saved here, so a resume loads them; still to train), each in ``models``' order."""
        saved = set(self.saved())
        return [m for m in models if m in saved], [m for m in models if m not in saved]

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool) -> list[str]:
        """Pin this run's identity; when resuming, check it matches. Returns the models already done.

        Called when the inputs are loaded and training is about to start: the run folder is marked
        unfinished from here on (until then a failing run leaves it as it was, or removes it if new).
        """
        start_run_dir(self.dir.parent)
        # data.refresh says how the prices were obtained, not what they are: the fingerprint covers that.
        flat = {k: v for k, v in _flatten(config).items() if k != "data.refresh"}
        state = {"config": flat, "data_fingerprint": data_fingerprint}
        path = self.dir / "state.json"
        if resume and path.is_file():
            old = self._state(path)
            changes = [f"{k}: {old['config'].get(k)!r} -> {v!r}" for k, v in state["config"].items()
                       if old["config"].get(k) != v]
            if old["data_fingerprint"] != data_fingerprint:
                changes.append("the price data (its fingerprint) differs")
            if changes:
                raise RunDirError(
                    f"cannot resume {self.dir.parent}: the run changed since it started ({'; '.join(changes)}). "
                    "Resume with the original config and data, or start a new run without --resume."
                )
            return self.saved()
        for stale in self.dir.glob("*.csv"):
            stale.unlink()
        atomic_write_json(path, state)
        return []

    def _state(self, path: Path) -> dict[str, Any]:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("config"), dict) and "data_fingerprint" in old:
                return old
        except (OSError, ValueError):
            pass
        raise RunDirError(f"cannot resume {self.dir.parent}: its checkpoint {path} is damaged. Start the run again "
                          "without --resume (with --force to reuse the folder).")

    def save(self, model: str, predictions: pd.DataFrame, fold_log: pd.DataFrame) -> None:
        atomic_write_csv(self.dir / f"{model}.predictions.csv", predictions)
        atomic_write_csv(self.dir / f"{model}.folds.csv", fold_log)  # written second: marks the group done

    def load(self, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        try:
            preds = pd.read_csv(self.dir / f"{model}.predictions.csv", float_precision="round_trip")
            log = pd.read_csv(self.dir / f"{model}.folds.csv", float_precision="round_trip",
                              dtype={"train_curve": str, "val_curve": str})
        except (OSError, ValueError) as exc:
            raise RunDirError(f"cannot resume {self.dir.parent}: the saved {model} group is damaged ({exc}). "
                              "Start the run again without --resume (with --force to reuse the folder).") from None
        return preds, log
