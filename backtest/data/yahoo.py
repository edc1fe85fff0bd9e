"""Yahoo Finance through yfinance: one download per symbol set, its frames split per symbol, its failures named."""

from __future__ import annotations

import logging
import re
import time
import warnings
from typing import Any

import pandas as pd

from backtest.core.config import DataSection, yahoo_adjusted
from backtest.core.errors import SourceError
from backtest.data.columns import normalise_columns
from backtest.data.http import OFFLINE_HINT, HttpPolicy


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
            raw = yf.download(symbols, start=cfg.start, end=cfg.end, interval="1d", auto_adjust=yahoo_adjusted(cfg),
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
