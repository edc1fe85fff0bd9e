"""Network price sources behind the real clients (yfinance, tejapi), with a local cache.

Downloads are cached as CSV in the user's cache directory (platformdirs; ``WFBT_CACHE_DIR`` overrides),
keyed by source, symbol, range and adjustment, beside a JSON record of the download time and the file's
SHA-256. A rerun reads the cache without touching the network; ``data.refresh = true`` downloads again;
a cache file whose checksum does not match is reported and downloaded again, never used.
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

from backtest.artifacts import atomic_write_json, atomic_write_text
from backtest.config import DataSection
from backtest.errors import SourceError

TEJ_COLUMNS = ["coid", "mdate", "open_d", "high_d", "low_d", "close_d", "volume"]
OFFLINE_HINT = "Use a cached copy (leave data.refresh off), or save the prices as CSV and use data.source = 'csv'."


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("WFBT_CACHE_DIR") or user_cache_dir("wfbt")) / "prices"


def cache_key(cfg: DataSection) -> str:
    parts = [cfg.source, cfg.symbol, cfg.start or "first", cfg.end or "last"]
    parts.append(cfg.table.replace("/", "-") if cfg.source == "tej" else ("adj" if cfg.adjusted else "raw"))
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
        if record.get("sha256") != _sha256(data):
            raise ValueError("checksum mismatch")
        return pd.read_csv(data, parse_dates=["date"])
    except (ValueError, OSError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        warnings.warn(f"cached {cfg.source}:{cfg.symbol} at {data} is damaged ({exc}); downloading it again.",
                      UserWarning, stacklevel=2)
        return None


def write_cache(cfg: DataSection, frame: pd.DataFrame) -> Path:
    data = cache_dir() / f"{cache_key(cfg)}.csv"
    out = frame.copy()
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    atomic_write_text(data, out.to_csv(index=False, lineterminator="\n"))
    atomic_write_json(cache_dir() / f"{cache_key(cfg)}.json", {
        "source": cfg.source, "symbol": cfg.symbol, "start": cfg.start, "end": cfg.end, "adjusted": cfg.adjusted,
        "table": cfg.table if cfg.source == "tej" else None, "rows": len(frame), "sha256": _sha256(data),
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    return data


def fetch(cfg: DataSection) -> pd.DataFrame:
    """Prices for a network source as a frame with a ``date`` column; from the cache when possible."""
    if not cfg.refresh:
        cached = read_cache(cfg)
        if cached is not None:
            return cached
    frame = yfinance_frames(cfg)[cfg.symbol] if cfg.source == "yfinance" else tej_frame(cfg)
    write_cache(cfg, frame)
    return frame


def split_yfinance(raw: pd.DataFrame, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """One frame per symbol from ``yfinance.download``'s output (columns: Price x Ticker MultiIndex)."""
    from backtest.data import normalise_columns

    out = {}
    for symbol in symbols:
        if isinstance(raw.columns, pd.MultiIndex):
            level = "Ticker" if "Ticker" in raw.columns.names else 1
            if symbol not in raw.columns.get_level_values(level):
                raise SourceError(f"Yahoo Finance returned no data for {symbol!r}. Check the ticker "
                                  f"(e.g. 2330.TW, ^GSPC) on finance.yahoo.com.")
            frame = raw.xs(symbol, axis=1, level=level)
        else:
            frame = raw
        frame = frame.dropna(how="all")
        if frame.empty:
            raise SourceError(f"Yahoo Finance returned no rows for {symbol!r}. Check the ticker and the dates.")
        frame = frame.rename_axis("date").reset_index()
        out[symbol] = normalise_columns(frame, origin=f"yfinance:{symbol}")
    return out


def yfinance_frames(cfg: DataSection, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    import yfinance as yf

    symbols = symbols or [cfg.symbol]
    try:
        raw = yf.download(symbols, start=cfg.start, end=cfg.end, interval="1d", auto_adjust=cfg.adjusted,
                          progress=False, threads=False, multi_level_index=True)
    except Exception as exc:  # yfinance raises many types for network and parsing failures
        raise SourceError(f"downloading {', '.join(symbols)} from Yahoo Finance failed ({exc}). "
                          f"{OFFLINE_HINT}") from None
    if raw is None or raw.empty:
        raise SourceError(
            f"Yahoo Finance returned no rows for {', '.join(symbols)} between {cfg.start or 'the start'} and "
            f"{cfg.end or 'today'}: the symbol may not exist (check it on finance.yahoo.com, e.g. 2330.TW) or "
            f"there is no network. {OFFLINE_HINT}"
        )
    return split_yfinance(raw, symbols)


def tej_frame(cfg: DataSection) -> pd.DataFrame:
    import requests
    import tejapi
    from tejapi.errors.tej_error import AuthenticationError, ForbiddenError, TejError

    from backtest.data import normalise_columns

    key = os.environ.get("TEJAPI_KEY")
    if not key:
        raise SourceError("data.source = 'tej' needs a TEJ API key in the TEJAPI_KEY environment variable "
                          f"(export TEJAPI_KEY=...; it is never written to artifacts). {OFFLINE_HINT}")
    tejapi.ApiConfig.api_key = key
    if os.environ.get("TEJAPI_BASE"):  # a proxy or test server
        tejapi.ApiConfig.api_base = os.environ["TEJAPI_BASE"]
    filters: dict[str, object] = {"coid": cfg.symbol, "opts": {"columns": TEJ_COLUMNS}, "paginate": True}
    dates = {k: v for k, v in {"gte": cfg.start, "lt": cfg.end}.items() if v}
    if dates:
        filters["mdate"] = dates
    try:
        raw = tejapi.get(cfg.table, **filters)
    except (AuthenticationError, ForbiddenError) as exc:
        raise SourceError(f"TEJ rejected the API key in TEJAPI_KEY ({exc}). Check the key and its table "
                          f"permissions for {cfg.table}.") from None
    except requests.exceptions.RequestException as exc:
        raise SourceError(f"could not reach TEJ at {tejapi.ApiConfig.api_base} ({type(exc).__name__}). "
                          f"{OFFLINE_HINT}") from None
    except TejError as exc:
        raise SourceError(f"TEJ answered with an error for {cfg.table} {cfg.symbol!r}: {exc}") from None
    if raw is None or raw.empty:
        raise SourceError(f"TEJ returned no rows for company {cfg.symbol!r} in {cfg.table} between "
                          f"{cfg.start or 'the start'} and {cfg.end or 'today'}. Check the company id (e.g. 2330).")
    frame = raw.drop(columns=[c for c in ("coid",) if c in raw.columns])
    return normalise_columns(frame, origin=f"tej:{cfg.symbol}")


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
