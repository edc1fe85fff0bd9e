"""Finished work saved as it finishes, so a killed run resumes without losing it.

Each architecture's group is saved to ``<run>/partial/<model>.predictions.csv`` and ``.folds.csv``
(atomically) the moment it finishes training, then ``<model>.done.json`` last: the size, rows and
SHA-256 of both files and the digest of the run's ``state.json``. ``partial/state.json`` pins the
resolved config and the data fingerprint; a resume with anything different is refused with the
differences named. Groups are independent (each member draws from its own seed), so skipping finished
groups gives byte-identical final results; work inside an unfinished group is redone.

A saved group is used only when it proves itself: its ``done.json`` names this run's state, both files
are still the ones it records, and (given the run's folds) the predictions hold exactly every test day of
every fold and the fold log every fold. A group that does not is set aside with a warning naming the file
and trained again: the run's identity is pinned by ``state.json``, so retraining gives the same bits a
usable checkpoint would have, and refusing would throw away the groups that are intact.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.core.config import default_of
from backtest.core.errors import CheckpointWarning, DamagedCheckpoint, RunDirError
from backtest.core.files import atomic_write_csv, atomic_write_json, atomic_write_text, describe
from backtest.engine.schedule import Fold
from backtest.runs.folder import RESUME_CONFIG, start_run_dir
from backtest.runs.store import sections_toml

# Settings that do not change results. run.threads does (in the last bits: torch splits sums by thread),
# so the engine pins the thread count it resolved and a resume with another count is refused.
IGNORED = {("run", "name"), ("run", "out_dir"), ("run", "device"), ("run", "workers"), ("run", "scheduler")}
DONE = ".done.json"  # written last: a group without it was not saved whole
PARTS = {"predictions": ".predictions.csv", "folds": ".folds.csv"}


def _flatten(config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, values in config.items() for k, v in values.items() if (s, k) not in IGNORED}


def _added_at_default(saved: dict[str, Any], key: str, value: Any) -> bool:
    """A setting the saved state does not know (a newer wfbt added it), left at its default: the default
    does what the run did before the setting existed, so resuming is no change."""
    return key not in saved and _json_like(value) == _json_like(default_of(key))


def _json_like(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))


def changed_settings(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[str]:
    """``key: old -> new`` for every setting that changes results and differs (unset reads as None)."""
    before = {k: v for k, v in _flatten(old).items() if k != "data.refresh"}
    after = {k: v for k, v in _flatten(new).items() if k != "data.refresh"}
    return [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)]


def read_proof(path: Path, state: str | None, unsaved: str) -> dict[str, Any] | str:
    """The proof record at ``path`` written by the run whose ``partial/state.json`` digests to ``state``,
    or why it is not one (``unsaved`` says what a missing record means: a group or chunk not saved whole)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path.name} is missing: {unsaved}"
    except (OSError, ValueError):
        return f"{path.name} is damaged (not the JSON wfbt writes)"
    if not isinstance(record, dict):
        return f"{path.name} is damaged (not the JSON wfbt writes)"
    if record.get("state") is None or record.get("state") != state:
        return f"{path.name} belongs to another run (it names another partial/state.json)"
    return record


def recorded_mismatch(name: str, want: Any, path: Path) -> str | None:
    """Why ``path`` is not the file ``done.json`` recorded for it (None when it is)."""
    if not isinstance(want, dict):
        return f"{name} is not recorded in its done.json"
    try:
        got = describe(path)
    except OSError:
        return f"{path.name} is missing"
    if got.get("rows") != want.get("rows"):
        return f"{path.name} has {got.get('rows')} rows but the checkpoint saved {want.get('rows')} (cut off or edited)"
    if got["bytes"] != want.get("bytes") or got["sha256"] != want.get("sha256"):
        return f"{path.name} is not the file the checkpoint saved (SHA-256 differs: edited, or from another run)"
    return None


def coverage_problem(model: str, predictions: pd.DataFrame, fold_log: pd.DataFrame, folds: Sequence[Fold]
                     ) -> str | None:
    """Why a group's predictions and fold log do not cover exactly ``folds`` (None when they do).

    The predictions must hold, in order, every test day ``[test_start, test_end)`` of every fold, and
    the fold log one row per fold, all of ``model``.
    """
    if not {"model", "fold", "pos", "predicted"} <= set(predictions.columns) or \
            not {"model", "fold", "seconds"} <= set(fold_log.columns):
        return "its files lack the columns wfbt writes"
    if set(predictions["model"]) != {model} or set(fold_log["model"]) != {model}:
        return f"its files hold rows of another model than {model}"
    if fold_log["fold"].tolist() != [f.index for f in folds]:
        return f"the fold log has folds {fold_log['fold'].tolist()} but the run has {[f.index for f in folds]}"
    for f in folds:
        got = predictions.loc[predictions["fold"] == f.index, "pos"].to_numpy()
        if not np.array_equal(got, np.arange(f.test_start, f.test_end)):
            return f"fold {f.index} holds {len(got)} predictions for its {f.test_end - f.test_start} test days"
    if len(predictions) != sum(f.test_end - f.test_start for f in folds):
        return "the predictions hold rows outside the folds' test days"
    return None


class Checkpoint:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "partial"

    def _path(self, model: str, part: str) -> Path:
        return self.dir / f"{model}{PARTS.get(part, DONE)}"

    def state_digest(self) -> str | None:
        try:
            return hashlib.sha256((self.dir / "state.json").read_bytes()).hexdigest()
        except OSError:
            return None

    def _candidates(self) -> list[str]:
        """Every architecture with any saved file here, proven or not."""
        names = {p.name.removesuffix(end) for end in (*PARTS.values(), DONE) for p in self.dir.glob(f"*{end}")}
        return sorted(names)

    def problem(self, model: str) -> str | None:
        """Why ``model``'s saved group does not prove itself by its ``done.json`` (None when it does)."""
        record = read_proof(self._path(model, "done"), self.state_digest(),
                            "the group was not saved whole (stopped while saving, or an older wfbt)")
        if isinstance(record, str):
            return record
        for part in PARTS:
            why = recorded_mismatch(part, record.get(part), self._path(model, part))
            if why:
                return why
        return None

    def saved(self) -> list[str]:
        """The architectures whose finished group is saved here and proves itself (see ``problem``)."""
        return [m for m in self._candidates() if self.problem(m) is None]

    def split(self, models: list[str]) -> tuple[list[str], list[str]]:
        """``models`` as (saved here, so a resume loads them; still to train), each in ``models``' order."""
        saved = set(self.saved())
        return [m for m in models if m in saved], [m for m in models if m not in saved]

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool, *,
              folds: Sequence[Fold] | None = None) -> list[str]:
        """Pin this run's identity; when resuming, check it matches. Returns the models already done.

        Called when the inputs are loaded and training is about to start: the run folder is marked
        unfinished from here on (until then a failing run leaves it as it was, or removes it if new).
        With ``folds``, a saved group must also cover every fold's test days; one that does not prove
        itself is removed with a warning naming the file, and trained again.
        """
        start_run_dir(self.dir.parent)
        # data.refresh says how the prices were obtained, not what they are: the fingerprint covers that.
        flat = {k: v for k, v in _flatten(config).items() if k != "data.refresh"}
        state = {"config": flat, "data_fingerprint": data_fingerprint}
        path = self.dir / "state.json"
        if resume and path.is_file():
            old = self._state(path)
            changes = [f"{k}: {old['config'].get(k)!r} -> {v!r}" for k, v in state["config"].items()
                       if old["config"].get(k) != v and not _added_at_default(old["config"], k, v)]
            if old["data_fingerprint"] != data_fingerprint:
                changes.append("the price data (its fingerprint) differs")
            if changes:
                raise RunDirError(
                    f"cannot resume {self.dir.parent}: the run changed since it started ({'; '.join(changes)}). "
                    "Resume with the original config and data, or start a new run without --resume."
                )
            return self._proven(folds)
        for stale in [*self.dir.glob("*.csv"), *self.dir.glob(f"*{DONE}")]:
            stale.unlink()
        atomic_write_json(path, state)
        # What the resume hint (folder.resume_command) runs: this config, its thread count pinned.
        atomic_write_text(self.dir / RESUME_CONFIG, sections_toml(config, "The config an interrupted run resumes "
                                                                          "with: wfbt show prints the command."))
        return []

    def _proven(self, folds: Sequence[Fold] | None) -> list[str]:
        """The saved groups that prove themselves; the others are removed, each with a warning."""
        proven = []
        for model in self._candidates():
            try:
                self.load(model, folds=folds)
                proven.append(model)
            except DamagedCheckpoint as exc:
                warnings.warn(f"{exc} {model} is trained again.", CheckpointWarning, stacklevel=3)
                self.discard(model)
        return proven

    def discard(self, model: str) -> None:
        """Remove ``model``'s saved group (its proof first, so a half-removed group never proves itself)."""
        for part in ("done", *PARTS):
            self._path(model, part).unlink(missing_ok=True)

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
        """Both files of a finished group, then the ``done.json`` that proves them (written last)."""
        self._path(model, "done").unlink(missing_ok=True)  # a group being replaced is unproven until done
        atomic_write_csv(self._path(model, "predictions"), predictions)
        atomic_write_csv(self._path(model, "folds"), fold_log)
        record = {part: describe(self._path(model, part)) for part in PARTS}
        atomic_write_json(self._path(model, "done"), {"model": model, "state": self.state_digest(), **record})

    def load(self, model: str, *, folds: Sequence[Fold] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A saved group's (predictions, fold log), or a DamagedCheckpoint naming the file that fails its proof.

        With ``folds`` the group must also hold exactly every fold's test days (``coverage_problem``).
        """
        why = self.problem(model)
        if why is None:
            try:
                preds = pd.read_csv(self._path(model, "predictions"), float_precision="round_trip")
                log = pd.read_csv(self._path(model, "folds"), float_precision="round_trip",
                                  dtype={"train_curve": str, "val_curve": str, "train_fit": str,
                                         "val_fit": str})
            except (OSError, ValueError) as exc:
                why = f"its files cannot be read ({exc})"
            else:
                why = coverage_problem(model, preds, log, folds) if folds is not None else None
        if why is not None:
            raise DamagedCheckpoint(f"the saved {model} group in {self.dir} is not usable: {why}.")
        return preds, log
