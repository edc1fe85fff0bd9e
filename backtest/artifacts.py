"""Run folders: every file written whole or not at all, completeness marked last.

A run folder holds ``.incomplete`` from the moment it is created until the last artifact is in place;
``manifest.json`` (with ``"complete": true``) is written last. A folder with ``.incomplete`` or without
a complete manifest is never taken for a finished run.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.errors import RunDirError

INCOMPLETE = ".incomplete"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename into place."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> None:
    atomic_write_text(path, frame.to_csv(index=index, lineterminator="\n"))


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> null, numpy scalars -> Python, timestamps -> ISO strings."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(_clean(payload), indent=2, allow_nan=False) + "\n")


def is_complete(run_dir: Path) -> bool:
    manifest = run_dir / "manifest.json"
    if (run_dir / INCOMPLETE).exists() or not manifest.is_file():
        return False
    try:
        return bool(json.loads(manifest.read_text(encoding="utf-8")).get("complete"))
    except (json.JSONDecodeError, OSError):
        return False


def choose_run_dir(out_dir: str | Path, name: str, force: bool = False, resume: bool = False) -> Path:
    """The folder this run writes to: ``out_dir/name``, or ``name-2``, ``-3``... if that one is taken.

    ``force`` reuses ``out_dir/name`` (its old files are replaced as the new ones land); ``resume``
    reuses it only if it is an unfinished run.
    """
    base = Path(out_dir) / name
    if force or not base.exists():
        return base
    if resume and not is_complete(base):
        return base
    k = 2
    while (Path(out_dir) / f"{name}-{k}").exists():
        k += 1
    return Path(out_dir) / f"{name}-{k}"


def start_run_dir(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").unlink(missing_ok=True)
    (run_dir / INCOMPLETE).write_text("this run has not finished; its files may be partial\n")


def finish_run_dir(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(run_dir / "manifest.json", {**manifest, "complete": True})
    (run_dir / INCOMPLETE).unlink(missing_ok=True)


def require_complete(run_dir: str | Path) -> Path:
    """The path of a finished run folder, or a RunDirError saying why it is not one."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"run folder {str(path)!r} does not exist. List runs with `ls runs/`.")
    if not is_complete(path):
        raise RunDirError(
            f"run folder {str(path)!r} is incomplete: the run was interrupted or is still going. "
            "Finish it with `wfbt run CONFIG --resume`, or start it again."
        )
    return path
