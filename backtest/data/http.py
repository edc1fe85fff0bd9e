"""HTTP policy for the network sources: a timeout on every request, bounded retries with backoff (WFBT_HTTP_*)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from urllib3.util.retry import Retry

from backtest.core.errors import ConfigError

OFFLINE_HINT = "Use a cached copy (leave data.refresh off), or save the prices as CSV and use data.source = 'csv'."


RETRY_STATUSES = (429, 500, 502, 503, 504)  # worth another try: rate limits and server trouble


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


class CappedRetry(Retry):
    """urllib3's Retry, but a server's Retry-After is honoured only up to ``backoff_max`` seconds."""

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, self.backoff_max)


def network_reason(exc: BaseException) -> tuple[str, bool]:
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
