"""Yahoo Finance through yfinance, against recorded-shape frames and a stalled loopback proxy."""

import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import DataSection
from backtest.core.errors import SourceError
from backtest.data.load import load_prices
from tests.conftest import synthetic_prices
from tests.data.conftest import wfbt, yahoo_frame


def test_yfinance_single_symbol_and_cache_without_network(fake_yf):
    cfg = DataSection(source="yfinance", symbol="AAPL", start="2015-01-01")
    first = load_prices(cfg)
    assert len(first) == 60 and list(first.columns) == ["open", "high", "low", "close", "volume"]
    assert fake_yf[0][1]["auto_adjust"] is False  # traded prices by default
    second = load_prices(cfg)
    assert len(fake_yf) == 1  # served from the cache
    pd.testing.assert_frame_equal(first, second)
    load_prices(DataSection(source="yfinance", symbol="AAPL", start="2015-01-01", refresh=True))
    assert len(fake_yf) == 2


def test_yfinance_several_symbols_are_split():
    from backtest.data.yahoo import split_yfinance

    frames = split_yfinance(yahoo_frame(["MSFT", "TSM"]), ["MSFT", "TSM"])
    expected = synthetic_prices(60, seed=1)
    np.testing.assert_allclose(frames["TSM"]["close"].to_numpy(), expected["close"].to_numpy())
    assert "adj_close" in frames["MSFT"].columns


def test_yfinance_unknown_symbol(fake_yf):
    with pytest.raises(SourceError, match=r"Yahoo Finance returned no rows for NOPE .* the symbol may not exist"):
        load_prices(DataSection(source="yfinance", symbol="NOPE"))


def test_yfinance_network_failure_is_a_clear_error_with_exit_3(fake_yf):
    from typer.testing import CliRunner

    from backtest.cli.app import app

    with pytest.raises(SourceError, match=r"downloading OFFLINE from Yahoo Finance failed \(Failed to resolve"):
        load_prices(DataSection(source="yfinance", symbol="OFFLINE"))
    result = CliRunner().invoke(app, ["data", "fetch", "yfinance:OFFLINE"], env={"COLUMNS": "300"})
    assert result.exit_code == 3
    assert "Yahoo Finance failed" in result.output and "data.source = 'csv'" in result.output
    assert "Traceback" not in result.output


def test_yahoo_stalled_server_times_out_with_a_message(stalled_proxy, tmp_path):
    proxy, held = stalled_proxy
    env = {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
           "WFBT_HTTP_TIMEOUT": "0.3", "WFBT_HTTP_RETRIES": "0", "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "WFBT_CACHE_DIR": str(tmp_path / "cache")}
    start = time.monotonic()
    result = wfbt("data", "fetch", "yfinance:2330.TW", "--start", "2020-01-01", env=env, timeout=90)
    assert result.returncode == 3, result.stderr
    assert ("error: Yahoo Finance did not answer within 0.3 s per request (1 tries) for 2330.TW: the server or the "
            "network is slow or down.") in " ".join(result.stderr.split())
    assert held and time.monotonic() - start < 30  # the requests did go to the stalled server
    assert "Traceback" not in result.stderr


def test_yahoo_rate_limit_is_named(monkeypatch):
    import logging

    import yfinance

    def download(tickers, **kwargs):  # what yfinance does on HTTP 429: log it, return nothing
        logging.getLogger("yfinance").error("%s: YFRateLimitError('Too Many Requests. Rate limited.')", tickers)
        return pd.DataFrame()

    monkeypatch.setattr(yfinance, "download", download)
    result = CliRunner().invoke(app, ["data", "fetch", "yfinance:AAPL"], env={"COLUMNS": "300"})
    assert result.exit_code == 3
    assert "error: Yahoo Finance is rate-limiting requests (HTTP 429 Too Many Requests) for AAPL." in \
        " ".join(result.output.split())
