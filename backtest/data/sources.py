"""Network price sources behind the real clients (yfinance, tejapi), with a local cache.

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

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from urllib3.util.retry import Retry

from backtest.core.config import DataSection
from backtest.core.errors import ConfigError, SourceError
from backtest.core.files import atomic_write_json, atomic_write_text
from backtest.data.columns import normalise_columns

TEJ_COLUMNS = ["coid", "mdate", "open_d", "high_d", "low_d", "close_d", "volume"]
OFFLINE_HINT = "Use a cached copy (leave data.refresh off), or save the prices as CSV and use data.source = 'csv'."
RETRY_STATUSES = (429, 500, 502, 503, 504)  # worth another try: rate limits and server trouble
TEJ_DEFAULT_BASE = "https://api.tej.com.tw"


@dataclass(frozen=True)
class HttpPolicy:
    """How long wfbt waits for a price server, and how often it tries again."""

    timeout: float = 20.0  # seconds one request may wait to connect or for the next bytes
    retries: int = 3  # further tries after a timeout, a refused connection, HTTP 429 or 5xx
    backoff: float = 1.0  # waits between tries: backoff * 2**(n-1) s (0, 2, 4 s by default), at most 30 s

    @property
    def tries(self) -> int:
        return self.retries + 1

    @classmethod
    def from_env(cls) -> HttpPolicy:
        """The policy with WFBT_HTTP_TIMEOUT, WFBT_HTTP_RETRIES and WFBT_HTTP_BACKOFF applied."""
        return cls(
            timeout=_env_number("WFBT_HTTP_TIMEOUT", cls.timeout, float, 0.0, 600.0,
                                "a number of seconds above 0 and at most 600, e.g. 30"),
            retries=int(_env_number("WFBT_HTTP_RETRIES", cls.retries, int, -1, 10,
                                    "a whole number from 0 to 10, e.g. 3")),
            backoff=_env_number("WFBT_HTTP_BACKOFF", cls.backoff, float, -1e-12, 30.0,
                                "a number of seconds from 0 to 30, e.g. 1"),
        )


def _env_number(name: str, default: float, kind: type, above: float, most: float, expected: str) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and above < value <= most):  # bounded: retries must end
        raise ConfigError(f"{name}: expected {expected}. Got {text!r}. Fix or unset the environment variable.")
    return value


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
        return pd.read_csv(data, dtype={"date": str})  # dates are read by backtest.data.dates, like a CSV's
    except (ValueError, OSError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        warnings.warn(f"cached {cfg.source}:{cfg.symbol} at {data} is damaged ({exc}); downloading it again.",
                      UserWarning, stacklevel=2)
        return None


def write_cache(cfg: DataSection, frame: pd.DataFrame) -> Path:
    data = cache_dir() / f"{cache_key(cfg)}.csv"
    out = frame.copy()
    out["date"] = _date_text(out["date"])
    atomic_write_text(data, out.to_csv(index=False, lineterminator="\n"))
    atomic_write_json(cache_dir() / f"{cache_key(cfg)}.json", {
        "source": cfg.source, "symbol": cfg.symbol, "start": cfg.start, "end": cfg.end, "adjusted": cfg.adjusted,
        "table": cfg.table if cfg.source == "tej" else None, "rows": len(frame), "sha256": _sha256(data),
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


def split_yfinance(raw: pd.DataFrame, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """One frame per symbol from ``yfinance.download``'s output (columns: Price x Ticker MultiIndex)."""

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


# --- Yahoo Finance --------------------------------------------------------------------------------------

def _yahoo_session(policy: HttpPolicy) -> Any:
    """A curl_cffi session (yfinance's own kind) whose every request waits at most ``policy.timeout`` seconds.

    yfinance applies ``download(timeout=...)`` to the price request only; its cookie, crumb and time zone
    requests wait 10-30 s each, so a stalled server held a download for minutes. The whole download also
    gets a budget of timeout x tries, after which further requests fail at once.
    """
    from curl_cffi import requests as curl_requests

    class BoundedSession(curl_requests.Session):  # type: ignore[misc]
        deadline = time.monotonic() + policy.timeout * policy.tries

        def request(self, *args: Any, **kwargs: Any) -> Any:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise curl_requests.exceptions.Timeout("wfbt's time for Yahoo Finance is spent")
            kwargs["timeout"] = min(policy.timeout, left)
            return super().request(*args, **kwargs)

    return BoundedSession(impersonate="chrome")


class _Collect(logging.Handler):
    """Keeps yfinance's error log lines: it reports a failed download there and returns an empty frame."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().strip())


def _yahoo_failure(symbols: list[str], cfg: DataSection, policy: HttpPolicy, said: list[str]) -> SourceError:
    """Why Yahoo returned nothing, from what yfinance logged."""
    names, text = ", ".join(symbols), " ".join(said)
    if re.search(r"Timeout|timed out|time for Yahoo Finance is spent", text):
        return SourceError(f"Yahoo Finance did not answer within {policy.timeout:g} s per request ({policy.tries} "
                           f"tries) for {names}: the server or the network is slow or down. Try again later, or allow "
                           f"more time with WFBT_HTTP_TIMEOUT=60. {OFFLINE_HINT}")
    if re.search(r"RateLimit|Too Many Requests|\b429\b", text):
        return SourceError(f"Yahoo Finance is rate-limiting requests (HTTP 429 Too Many Requests) for {names}. Wait "
                           f"a few minutes and run again; downloads already made are cached. {OFFLINE_HINT}")
    if re.search(r"resolve|DNSError|ConnectionError|Connection refused|Failed to perform|curl: \(\d+\)", text):
        return SourceError(f"could not reach Yahoo Finance for {names} ({said[-1][:160]}). Check the network (and "
                           f"HTTPS_PROXY if you use one). {OFFLINE_HINT}")
    return SourceError(
        f"Yahoo Finance returned no rows for {names} between {cfg.start or 'the start'} and {cfg.end or 'today'}: "
        f"the symbol may not exist (check it on finance.yahoo.com, e.g. 2330.TW) or there is no network. "
        + (f"Yahoo said: {said[-1][:160]}. " if said else "") + OFFLINE_HINT
    )


def yfinance_frames(cfg: DataSection, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    import yfinance as yf

    symbols = symbols or [cfg.symbol]
    policy = HttpPolicy.from_env()
    collect, logger = _Collect(), logging.getLogger("yfinance")
    network = getattr(getattr(yf, "config", None), "network", None)  # yfinance >= 1.0: its own retry setting
    retries = network.retries if network is not None else None
    if network is not None:
        network.retries = policy.retries
    logger.addHandler(collect)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="yfinance")
            raw = yf.download(symbols, start=cfg.start, end=cfg.end, interval="1d", auto_adjust=cfg.adjusted,
                              progress=False, threads=False, multi_level_index=True, timeout=policy.timeout,
                              session=_yahoo_session(policy))
    except Exception as exc:  # yfinance raises many types for network and parsing failures
        raise SourceError(f"downloading {', '.join(symbols)} from Yahoo Finance failed ({exc}). "
                          f"{OFFLINE_HINT}") from None
    finally:
        logger.removeHandler(collect)
        if network is not None:
            network.retries = retries
    if raw is None or raw.empty:
        raise _yahoo_failure(symbols, cfg, policy, collect.lines)
    return split_yfinance(raw, symbols)


# --- TEJ ---------------------------------------------------------------------------------------------------

class _CappedRetry(Retry):
    """urllib3's Retry, but a server's Retry-After is honoured only up to ``backoff_max`` seconds."""

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, self.backoff_max)


class _TejTransport:
    """Stands in for the ``requests`` module inside ``tejapi.connection`` for one download.

    tejapi sends every request through the module functions ``requests.get``/``requests.post``, with no
    session, timeout or retry. This object offers the same calls (and ``exceptions``) through a session
    that has them.
    """

    def __init__(self, session: Any, timeout: float) -> None:
        import requests

        self.session, self.timeout, self.exceptions = session, timeout, requests.exceptions

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.session.get(url, timeout=self.timeout, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.session.post(url, timeout=self.timeout, **kwargs)


@contextlib.contextmanager
def _tej_transport(policy: HttpPolicy) -> Iterator[None]:
    import requests
    import tejapi.connection
    from requests.adapters import HTTPAdapter

    retry = _CappedRetry(total=policy.retries, connect=policy.retries, read=policy.retries,
                         status=policy.retries, other=0, backoff_factor=policy.backoff, backoff_max=30.0,
                         status_forcelist=RETRY_STATUSES, allowed_methods=None,  # every TEJ call only reads
                         raise_on_status=False)  # the last answer goes to tejapi, which reads TEJ's error
    saved = tejapi.connection.requests
    pool_log = logging.getLogger("urllib3.connectionpool")  # "Retrying (...)" lines would reach the terminal
    level = pool_log.level
    with requests.Session() as session:
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        tejapi.connection.requests = _TejTransport(session, policy.timeout)
        pool_log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            tejapi.connection.requests = saved
            pool_log.setLevel(level)


def _network_reason(exc: BaseException) -> tuple[str, bool]:
    """A short reason for a requests failure, and whether it was a timeout."""
    text = f"{type(exc).__name__}: {exc}"
    if re.search(r"Timeout|timed out", text):
        return "timed out", True
    if re.search(r"NameResolution|Failed to resolve|Name or service not known|nodename nor servname", text):
        return "the host name could not be resolved", False
    if re.search(r"Connection refused|NewConnectionError|Errno 111", text):
        return "connection refused", False
    if re.search(r"RemoteDisconnected|Connection aborted|ConnectionReset", text):
        return "the server closed the connection", False
    return text[:160], False


def _tej_failure(exc: BaseException, cfg: DataSection, base: str, policy: HttpPolicy) -> SourceError:
    """A SourceError that says what TEJ (or the way to it) answered, and the fix."""
    import requests
    from tejapi.errors import tej_error as te

    custom = base.rstrip("/") != TEJ_DEFAULT_BASE
    check_base = "Check TEJAPI_BASE, or unset it to use TEJ's own server" if custom else "Try again later"
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return SourceError(f"TEJ at {base} answered with something that is not JSON (it starts with "
                           f"{str(exc.doc)[:60]!r}), so it is not TEJ's datatable API: perhaps a proxy, login or error "
                           f"page. {check_base}. {OFFLINE_HINT}")
    if isinstance(exc, requests.exceptions.RequestException):
        reason, timed_out = _network_reason(exc)
        if timed_out:
            return SourceError(f"TEJ at {base} did not answer within {policy.timeout:g} s ({policy.tries} tries with "
                               "backoff): the server or the network is slow or down. Try again later, or allow more "
                               f"time with WFBT_HTTP_TIMEOUT=60. {OFFLINE_HINT}")
        where = "the network and TEJAPI_BASE (or unset it to use TEJ's own server)" if custom else "the network"
        return SourceError(f"could not reach TEJ at {base} ({type(exc).__name__}: {reason}) after {policy.tries} "
                           f"tries. Check {where}. {OFFLINE_HINT}")
    status = getattr(exc, "http_status", None)
    what = f"{cfg.table} for company {cfg.symbol!r}"
    if isinstance(exc, te.AuthenticationError):
        return SourceError(f"TEJ rejected the API key in TEJAPI_KEY ({exc}). Check the key and its table "
                           f"permissions for {cfg.table}.")
    if isinstance(exc, te.ForbiddenError):
        return SourceError(f"TEJ refused {cfg.table} to this API key ({exc}): the subscription does not include "
                           "that table. Use a table the key may read (data.table; the studies used TWN/APRCD) or ask "
                           "TEJ to enable it.")
    if isinstance(exc, te.LimitExceededError) and status is None:  # tejapi's own cap on pages per call
        return SourceError(f"{what} needs more pages than the TEJ client fetches in one call. Narrow the range "
                           "with data.start and data.end.")
    if isinstance(exc, te.LimitExceededError) or status == 429:
        return SourceError(f"TEJ refused more requests from this API key ({exc}) after {policy.tries} tries with "
                           "backoff: its call or row limit is used up (TEJ counts calls and rows per day) or the "
                           "requests came too fast. Wait and run again (daily limits reset the next day); downloads "
                           f"already made are cached. {OFFLINE_HINT}")
    if isinstance(exc, te.InvalidRequestError | te.NotFoundError):
        return SourceError(f"TEJ could not serve {what} ({exc}). Check data.table (DATABASE/TABLE, e.g. TWN/APRCD) "
                           "and data.symbol (a company id, e.g. 2330).")
    if isinstance(exc, te.InternalServerError | te.ServiceUnavailableError) or (status or 0) >= 500:
        return SourceError(f"TEJ's server failed for {what} (HTTP {status}: {_tej_said(exc)}) on all "
                           f"{policy.tries} tries with backoff. Try again later. {OFFLINE_HINT}")
    if status is not None:
        return SourceError(f"TEJ at {base} answered HTTP {status} with {_tej_said(exc)}. {check_base}.")
    return SourceError(f"TEJ's answer for {what} is malformed ({type(exc).__name__}: {exc}). {check_base}.")


def _tej_said(exc: BaseException) -> str:
    """TEJ's own message, or the start of a body that was not TEJ's error format."""
    if getattr(exc, "tej_error_code", None):
        return f"{exc.tej_error_code} {exc.tej_message}"  # type: ignore[attr-defined]
    return f"a body that is not TEJ's error format, starting {str(getattr(exc, 'http_body', ''))[:60]!r}"


def tej_frame(cfg: DataSection) -> pd.DataFrame:
    import requests
    import tejapi
    from tejapi.errors.tej_error import TejError


    key = os.environ.get("TEJAPI_KEY")
    if not key:
        raise SourceError("data.source = 'tej' needs a TEJ API key in the TEJAPI_KEY environment variable "
                          f"(export TEJAPI_KEY=...; it is never written to artifacts). {OFFLINE_HINT}")
    tejapi.ApiConfig.api_key = key
    if os.environ.get("TEJAPI_BASE"):  # a proxy or test server
        tejapi.ApiConfig.api_base = os.environ["TEJAPI_BASE"]
    base = tejapi.ApiConfig.api_base
    filters: dict[str, object] = {"coid": cfg.symbol, "opts": {"columns": TEJ_COLUMNS}, "paginate": True}
    dates = {k: v for k, v in {"gte": cfg.start, "lt": cfg.end}.items() if v}
    if dates:
        filters["mdate"] = dates
    policy = HttpPolicy.from_env()
    try:
        with _tej_transport(policy):
            raw = tejapi.get(cfg.table, **filters)
    except (requests.exceptions.RequestException, TejError) as exc:
        raise _tej_failure(exc, cfg, base, policy) from None
    except (KeyError, TypeError, IndexError, AttributeError) as exc:  # JSON, but not a datatable page
        raise _tej_failure(exc, cfg, base, policy) from None
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
