"""The download cache of the network sources (yahoo, tej): prices fetched once, read back while they check out.

Downloads are cached as CSV in the user's cache directory (platformdirs; ``WFBT_CACHE_DIR`` overrides),
keyed by source, symbol, range and adjustment, beside a JSON record of the download time and the file's
SHA-256. A rerun reads the cache without touching the network; ``data.refresh = true`` downloads again;
a cache file whose checksum does not match is reported and downloaded again, never used.

Every request has a timeout, and failures that may pass (a timeout, a refused connection, HTTP 429 or
5xx) are tried again a bounded number of times with exponential backoff (``HttpPolicy``, set by the
``WFBT_HTTP_*`` environment variables). What still fails ends in a SourceError that names the server,
what went wrong and the fix (exit 3).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from backtest.core.config import DataSection, yahoo_adjusted
from backtest.core.errors import ConfigError
from backtest.core.files import atomic_write_json, atomic_write_text
from backtest.data.tej import tej_frame
from backtest.data.yahoo import yfinance_frames


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    root = Path(os.environ.get("WFBT_CACHE_DIR") or user_cache_dir("wfbt"))
    for folder in (root, root / "prices"):
        if folder.exists() and not folder.is_dir():
            where = "WFBT_CACHE_DIR" if os.environ.get("WFBT_CACHE_DIR") else "the cache folder"
            raise ConfigError(f"{where} {str(folder)!r} is a file, not a folder. Point WFBT_CACHE_DIR at a folder "
                              "(it is created if missing), or unset it to use the user's cache directory.")
    return root / "prices"


def cache_key(cfg: DataSection) -> str:
    parts = [cfg.source, cfg.symbol, cfg.start or "first", cfg.end or "last"]
    parts.append(cfg.table.replace("/", "-") if cfg.source == "tej" else ("adj" if yahoo_adjusted(cfg) else "raw"))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_cache(cfg: DataSection) -> pd.DataFrame | None:
    """The cached frame, or None if absent or corrupt (a corrupt copy is reported, then ignored)."""
    data, meta = cache_dir() / f"{cache_key(cfg)}.csv", cache_dir() / f"{cache_key(cfg)}.json"
    if not data.is_file() or not meta.is_file():
        return None
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("sha256") != _sha256(data):
            raise ValueError("checksum mismatch")
        other = _other_download(record, cfg)
        if other:  # two symbols whose names differ only in characters a file name cannot hold share a key
            warnings.warn(f"cached {cfg.source}:{cfg.symbol} at {data} holds another download ({other}); "
                          "downloading it again.", UserWarning, stacklevel=2)
            return None
        frame = pd.read_csv(data, dtype={"date": str})  # dates are read by backtest.data.dates, like a CSV's
        if len(frame) != record.get("rows"):
            raise ValueError(f"{len(frame)} rows, the download had {record.get('rows')}")
        return frame
    except (ValueError, OSError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        warnings.warn(f"cached {cfg.source}:{cfg.symbol} at {data} is damaged ({exc}); downloading it again.",
                      UserWarning, stacklevel=2)
        return None


def _identity(cfg: DataSection) -> dict[str, object]:
    """What a cached download is of: the record's fields that must equal the request's."""
    return {"source": cfg.source, "symbol": cfg.symbol, "start": cfg.start, "end": cfg.end, "adjusted": cfg.adjusted,
            "table": cfg.table if cfg.source == "tej" else None}


def _other_download(record: dict[str, object], cfg: DataSection) -> str:
    """'' when ``record`` is the download ``cfg`` asks for, else what it is of (the differing fields)."""
    wanted = _identity(cfg)
    return ", ".join(f"{k} {record.get(k)!r} (not {v!r})" for k, v in wanted.items() if record.get(k) != v)


def write_cache(cfg: DataSection, frame: pd.DataFrame) -> Path:
    data = cache_dir() / f"{cache_key(cfg)}.csv"
    out = frame.copy()
    out["date"] = _date_text(out["date"])
    atomic_write_text(data, out.to_csv(index=False, lineterminator="\n"))
    atomic_write_json(cache_dir() / f"{cache_key(cfg)}.json", {
        **_identity(cfg), "rows": len(frame), "sha256": _sha256(data),
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    return data


def _date_text(dates: pd.Series) -> pd.Series:
    """Dates as the server sent them, without loss: a time of day or a zone decides the bar's date later."""
    if pd.api.types.is_datetime64_any_dtype(dates):
        index = pd.DatetimeIndex(dates)
        if index.tz is None and (index == index.normalize()).all():
            return pd.Series(index.strftime("%Y-%m-%d"), index=dates.index)
        return pd.Series([t.isoformat() for t in index], index=dates.index)
    return dates.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def fetch(cfg: DataSection) -> pd.DataFrame:
    """Prices for a network source as a frame with a ``date`` column; from the cache when possible."""
    if not cfg.refresh:
        cached = read_cache(cfg)
        if cached is not None:
            return cached
    frame = yfinance_frames(cfg)[cfg.symbol] if cfg.source == "yfinance" else tej_frame(cfg)
    write_cache(cfg, frame)
    return frame


# --- Yahoo Finance --------------------------------------------------------------------------------------


# --- TEJ ---------------------------------------------------------------------------------------------------


def cache_file(cfg: DataSection) -> Path:
    """Where the download cache keeps ``cfg``'s prices."""
    return cache_dir() / f"{cache_key(cfg)}.csv"


def cached_downloads() -> list[dict[str, object]]:
    """What the download cache holds, one record per download (records that cannot be read are skipped).

    Each: ``source``, ``symbol``, ``start``, ``end``, ``adjusted``, ``rows``, ``downloaded_at`` as
    recorded at download time, and ``bytes``: the data file's size (None when it is missing).
    """
    records = []
    for meta in sorted(cache_dir().glob("*.json")):
        try:
            rec = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict):
            continue
        data = meta.with_suffix(".csv")
        records.append({key: rec.get(key) for key in ("source", "symbol", "start", "end", "adjusted", "rows",
                                                      "downloaded_at")}
                       | {"bytes": data.stat().st_size if data.is_file() else None})
    return records
