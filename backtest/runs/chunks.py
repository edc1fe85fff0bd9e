"""A universe run's trained chunks of folds, saved as each finishes, so a killed run resumes without losing them.

The pooled trainer (engine.pooled) trains the folds a chunk at a time; each finished chunk is saved to
``<run>/partial/chunk-<i>.parts.csv`` (model, fold, row, col, value: every forecast at its row and column of
the close panel, float64 written to read back bit for bit) and ``chunk-<i>.log.csv`` (its networks' training
log: per network, fold and seed, the epochs run, the best epoch and its losses, whether it stopped early,
seconds; the rows of the run's folds.csv), then ``chunk-<i>.chunk.json`` last: the chunk's folds and models,
each file's size, rows and SHA-256, and the digest of the run's ``partial/state.json``,
which ``runs.checkpoint.Checkpoint.begin`` pins (the resolved config with its thread count, and the data
fingerprint; a resume with anything different is refused with the differences named).

A saved chunk is used only when it proves itself as a single-symbol group does: its record names this
run's state and this chunk's folds and models, the file is the one it records, and every forecast lies on
a test day of its fold. One that does not is set aside with a warning naming the file and trained again
(the run's identity is pinned, so retraining gives the bits a usable checkpoint would have held). A chunk
saved by a wfbt older than the training log (a record without "log") is trained again the same way, with a
warning that says so: its forecasts would come back the same, but the run's folds.csv could not say when
those folds' networks stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtest.core.errors import DamagedCheckpoint
from backtest.core.files import atomic_write_csv, atomic_write_json, describe
from backtest.engine.pooled import LOG_COLUMNS, Parts, TrainedChunk
from backtest.engine.schedule import Fold
from backtest.runs.checkpoint import Checkpoint, read_proof, recorded_mismatch

COLUMNS = ["model", "fold", "row", "col", "value"]
RECORD, PARTS, LOG = ".chunk.json", ".parts.csv", ".log.csv"  # the record is written last: without it, not saved whole


class ChunkCheckpoint:
    """The ``engine.pooled.ChunkStore`` of a run folder: one proven file per finished chunk of folds."""

    def __init__(self, run_dir: Path) -> None:
        self.state = Checkpoint(run_dir)
        self.dir = run_dir / "partial"

    def _path(self, index: int, end: str) -> Path:
        return self.dir / f"chunk-{index:03d}{end}"

    def begin(self, config: dict[str, dict[str, Any]], data_fingerprint: str, resume: bool) -> None:
        """Pin the run's identity (``Checkpoint.begin``); a fresh start drops every chunk saved before."""
        if not resume:
            for stale in [*self.dir.glob(f"*{RECORD}"), *self.dir.glob(f"*{PARTS}"), *self.dir.glob(f"*{LOG}")]:
                stale.unlink()
        self.state.begin(config, data_fingerprint, resume)

    def saved(self) -> list[int]:
        """The chunks whose record proves its file (folds not checked: for messages)."""
        found = sorted(int(p.name[6:9]) for p in self.dir.glob(f"chunk-*{RECORD}"))
        return [i for i in found if self._problem(i) is None]

    def _problem(self, index: int, folds: list[Fold] | None = None, models: list[str] | None = None) -> str | None:
        """Why chunk ``index``'s record does not prove its file for these folds and models (None when it does)."""
        path = self._path(index, RECORD)
        record = read_proof(path, self.state.state_digest(), "the chunk was not saved whole (stopped while saving)")
        if isinstance(record, str):
            return record
        if folds is not None and record.get("folds") != [f.index for f in folds]:
            return f"{path.name} holds folds {record.get('folds')} but this chunk is {[f.index for f in folds]}"
        if models is not None and record.get("models") != models:
            return f"{path.name} holds models {record.get('models')} but the run trains {models}"
        if "log" not in record:
            return (f"{path.name} was saved by an older wfbt, without the networks' training log (the run's "
                    "folds.csv)")
        return (recorded_mismatch("parts", record.get("parts"), self._path(index, PARTS))
                or recorded_mismatch("log", record.get("log"), self._path(index, LOG)))

    def load(self, index: int, folds: list[Fold], models: list[str]) -> TrainedChunk | None:
        """Chunk ``index``'s forecasts and training log; None when nothing of it was saved, DamagedCheckpoint when
        it fails its proof."""
        if not self._path(index, RECORD).exists() and not self._path(index, PARTS).exists():
            return None
        why = self._problem(index, folds, models)
        if why is None:
            try:
                frame = pd.read_csv(self._path(index, PARTS), float_precision="round_trip")
                log = read_log(self._path(index, LOG))
            except (OSError, ValueError) as exc:
                why = f"its file cannot be read ({exc})"
            else:
                why = _coverage_problem(frame, folds, models) or _log_problem(log, folds, models)
        if why is not None:
            raise DamagedCheckpoint(f"the saved chunk {index} (folds {[f.index for f in folds]}) in {self.dir} is "
                                    f"not usable: {why}.")
        return TrainedChunk(_parts(frame, folds, models), log)

    def save(self, index: int, folds: list[Fold], chunk: TrainedChunk) -> None:
        """The chunk's files, then the record that proves them (written last)."""
        self._path(index, RECORD).unlink(missing_ok=True)  # a chunk being replaced is unproven until saved
        atomic_write_csv(self._path(index, PARTS), _frame(chunk.parts, folds))
        atomic_write_csv(self._path(index, LOG), chunk.log)
        record = {"chunk": index, "folds": [f.index for f in folds], "models": list(chunk.parts),
                  "state": self.state.state_digest(), "parts": describe(self._path(index, PARTS)),
                  "log": describe(self._path(index, LOG))}
        atomic_write_json(self._path(index, RECORD), record)

    def discard(self, index: int) -> None:
        """Remove chunk ``index`` (its record first, so a half-removed chunk never proves itself)."""
        for end in (RECORD, PARTS, LOG):
            self._path(index, end).unlink(missing_ok=True)


def _fold_of(rows: np.ndarray, folds: list[Fold]) -> np.ndarray:
    """The index of the fold whose test block holds each row."""
    starts = np.array([f.test_start for f in folds])
    return np.array([f.index for f in folds])[np.searchsorted(starts, rows, side="right") - 1]


def _frame(parts: Parts, folds: list[Fold]) -> pd.DataFrame:
    """A chunk's forecasts as one long table (float64, so the CSV reads back bit for bit)."""
    pieces = [pd.DataFrame({"model": model, "fold": _fold_of(np.asarray(rows), folds), "row": rows, "col": cols,
                            "value": np.asarray(values, dtype=np.float64)})
              for model, model_parts in parts.items() for values, rows, cols in model_parts]
    return pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=COLUMNS)


def _coverage_problem(frame: pd.DataFrame, folds: list[Fold], models: list[str]) -> str | None:
    """Why a chunk's table is not forecasts of ``models`` on the test days of ``folds`` (None when it is)."""
    if list(frame.columns) != COLUMNS:
        return "its file lacks the columns wfbt writes"
    if not set(frame["model"]) <= set(models):
        return f"it holds forecasts of models the run does not train ({sorted(set(frame['model']) - set(models))})"
    for f in folds:
        rows = frame.loc[frame["fold"] == f.index, "row"]
        if not rows.between(f.test_start, f.test_end - 1).all():
            return f"fold {f.index} holds forecasts outside its test days"
    if not frame["fold"].isin([f.index for f in folds]).all():
        return "it holds forecasts of folds outside the chunk"
    if frame.duplicated(["model", "row", "col"]).any():
        return "it holds a forecast twice"
    return None


def read_log(path: Path) -> pd.DataFrame:
    """A training log written by ``atomic_write_csv`` back as it was (losses bit for bit, symbols as text)."""
    return pd.read_csv(path, float_precision="round_trip", dtype={"symbol": str}, keep_default_na=False,
                       na_values=[""])


def _log_problem(log: pd.DataFrame, folds: list[Fold], models: list[str]) -> str | None:
    """Why a chunk's training log is not of its networks on its folds (None when it is)."""
    if not set(LOG_COLUMNS) <= set(log.columns):
        return "its training log lacks the columns wfbt writes"
    if not set(log["fold"]) <= {f.index for f in folds} or not set(log["model"]) <= set(models) - {"linear"}:
        return "its training log names folds or models outside the chunk"
    return None


def _parts(frame: pd.DataFrame, folds: list[Fold], models: list[str]) -> Parts:
    """The table back as the engine's Parts: per model, one (values, rows, cols) per fold."""
    out: Parts = {model: [] for model in models}
    for (model, _), g in frame.groupby(["model", "fold"], sort=False):
        out[str(model)].append((g["value"].to_numpy(np.float64), g["row"].to_numpy(np.int64),
                                g["col"].to_numpy(np.int64)))
    return out
