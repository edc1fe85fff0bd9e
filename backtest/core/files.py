"""Files written whole or not at all, and what a manifest records of them.

Every artifact is written to a temporary file beside its target and renamed over it (with the usual
permissions), so a reader sees the old file or the new one, never a partial one. ``describe`` records a
file's size, rows and SHA-256 for a manifest; ``verify`` checks files against such a record.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.core.errors import RunDirError

UMASK = os.umask(0)
os.umask(UMASK)


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
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; artifacts get the usual permissions
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


# Artifacts are recorded in the manifest when written and checked when read: a file cut off or edited
# afterwards is refused instead of being read as a shorter run.
def describe(path: Path) -> dict[str, Any]:
    """Size, SHA-256 and (CSV) data rows of one artifact."""
    data = path.read_bytes()
    info: dict[str, Any] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if path.suffix == ".csv":
        info["rows"] = max(0, data.count(b"\n") - 1)  # the header line is not a row
    return info


def verify(run_dir: Path, recorded: dict[str, dict[str, Any]]) -> None:
    """Raise a RunDirError naming the first artifact that is missing or differs from ``recorded``."""
    hint = "Run it again (the same command with --force replaces the folder)."
    for name, want in recorded.items():
        path = run_dir / name
        try:
            got = describe(path)
        except OSError as exc:
            why = "is missing" if exc.errno == errno.ENOENT else f"cannot be read ({exc.strerror or exc})"
            raise RunDirError(f"run folder {str(run_dir)!r} is damaged: {name} {why}. {hint}") from None
        if "rows" in want and got.get("rows") != want["rows"]:
            raise RunDirError(f"run folder {str(run_dir)!r} is damaged: {name} has {got.get('rows')} rows but the "
                              f"run wrote {want['rows']} (the file was cut off or edited). {hint}")
        if got["bytes"] != want.get("bytes") or got["sha256"] != want.get("sha256"):
            raise RunDirError(f"run folder {str(run_dir)!r} is damaged: {name} is not the file the run wrote "
                              f"({got['bytes']:,} bytes, the run wrote {want.get('bytes', 0):,}; SHA-256 differs). "
                              f"{hint}")
