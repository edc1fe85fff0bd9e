"""TEJ through tejapi: the datatable's rows for one company, every request bounded, every refusal named."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import pandas as pd

from backtest.core.config import DataSection
from backtest.core.errors import SourceError
from backtest.data.columns import normalise_columns
from backtest.data.http import OFFLINE_HINT, RETRY_STATUSES, CappedRetry, HttpPolicy, network_reason

TEJ_COLUMNS = ["coid", "mdate", "open_d", "high_d", "low_d", "close_d", "volume"]


TEJ_DEFAULT_BASE = "https://api.tej.com.tw"


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

    retry = CappedRetry(total=policy.retries, connect=policy.retries, read=policy.retries,
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
        reason, timed_out = network_reason(exc)
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
