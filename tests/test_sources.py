"""yfinance and TEJ adapters against local stand-ins: recorded-shape frames and a loopback TEJ server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from backtest.config import DataSection
from backtest.data import load_prices
from backtest.errors import SourceError
from tests.conftest import synthetic_prices


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WFBT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def yahoo_frame(symbols, n=60):
    """What yfinance.download returns today: columns MultiIndex (Price, Ticker), index named Date."""
    parts = {}
    for k, sym in enumerate(symbols):
        p = synthetic_prices(n, seed=k)
        parts[sym] = pd.DataFrame({"Adj Close": p.close * 0.98, "Close": p.close, "High": p.high, "Low": p.low,
                                   "Open": p.open, "Volume": p.volume.astype("int64")})
    frame = pd.concat(parts, axis=1).swaplevel(0, 1, axis=1).sort_index(axis=1)
    frame.columns.names = ["Price", "Ticker"]
    frame.index.name = "Date"
    return frame


@pytest.fixture
def fake_yf(monkeypatch):
    import yfinance

    calls = []

    def download(tickers, **kwargs):
        calls.append((tickers, kwargs))
        if "OFFLINE" in tickers:  # what yfinance lets through when the network is down
            import requests

            raise requests.exceptions.ConnectionError("Failed to resolve 'query2.finance.yahoo.com'")
        known = [t for t in tickers if t != "NOPE"]
        return yahoo_frame(known, n=300 if "LONG" in known else 60) if known else pd.DataFrame()

    monkeypatch.setattr(yfinance, "download", download)
    return calls


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
    from backtest.sources import split_yfinance

    frames = split_yfinance(yahoo_frame(["MSFT", "TSM"]), ["MSFT", "TSM"])
    expected = synthetic_prices(60, seed=1)
    np.testing.assert_allclose(frames["TSM"]["close"].to_numpy(), expected["close"].to_numpy())
    assert "adj_close" in frames["MSFT"].columns


def test_yfinance_unknown_symbol(fake_yf):
    with pytest.raises(SourceError, match=r"Yahoo Finance returned no rows for NOPE .* the symbol may not exist"):
        load_prices(DataSection(source="yfinance", symbol="NOPE"))


def test_corrupt_cache_is_detected_and_fetched_again(fake_yf, cache):
    cfg = DataSection(source="yfinance", symbol="AAPL")
    load_prices(cfg)
    (data_file,) = cache.glob("prices/*.csv")
    data_file.write_text(data_file.read_text().replace("2015-01-05", "2015-01-06", 1))
    with pytest.warns(UserWarning, match="is damaged .*checksum mismatch.*downloading it again"):
        again = load_prices(cfg)
    assert len(fake_yf) == 2 and len(again) == 60


def test_yfinance_network_failure_is_a_clear_error_with_exit_3(fake_yf):
    from typer.testing import CliRunner

    from backtest.cli import app

    with pytest.raises(SourceError, match=r"downloading OFFLINE from Yahoo Finance failed \(Failed to resolve"):
        load_prices(DataSection(source="yfinance", symbol="OFFLINE"))
    result = CliRunner().invoke(app, ["data", "fetch", "yfinance:OFFLINE"], env={"COLUMNS": "300"})
    assert result.exit_code == 3
    assert "Yahoo Finance failed" in result.output and "data.source = 'csv'" in result.output
    assert "Traceback" not in result.output


def test_run_uses_the_cache_and_refresh_downloads_again(fake_yf, tmp_path):
    from typer.testing import CliRunner

    from backtest.cli import app
    from tests.conftest import TINY

    args = ["run", "--quiet", "--out", str(tmp_path / "runs"), "--set", "data.source='yfinance'",
            "--set", "data.symbol='LONG'", "--set", "run.name='y'", "--force"]
    for item in TINY:
        args += ["--set", item]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert len(fake_yf) == 1
    assert runner.invoke(app, args).exit_code == 0 and len(fake_yf) == 1  # the cache answered
    again = runner.invoke(app, [*args, "--refresh"])
    assert again.exit_code == 0, again.output
    assert len(fake_yf) == 2 and fake_yf[1][0] == ["LONG"]


class TejStandIn(BaseHTTPRequestHandler):
    """Answers like TEJ's datatable API: pages of 3 rows linked by next_cursor_id, key in x-api-token."""

    rows = [["2330", f"2023-01-{d:02d}", 500.0 + d, 505.0 + d, 495.0 + d, 501.0 + d, 1000 + d] for d in range(2, 9)]
    requests: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        query = parse_qs(urlparse(self.path).query)
        type(self).requests.append({"path": urlparse(self.path).path, "query": query})
        if self.headers.get("x-api-token") != "good-key":
            return self.reply(401, {"error": {"code": "A01", "message": "Incorrect API key"}})
        start = int(query.get("opts.cursor_id", ["0"])[0])
        rows = [r for r in self.rows if r[0] == query.get("coid", ["2330"])[0]
                and r[1] >= query.get("mdate.gte", ["0000"])[0] and r[1] < query.get("mdate.lt", ["9999"])[0]]
        page = rows[start:start + 3]
        nxt = str(start + 3) if start + 3 < len(rows) else None
        columns = [{"name": c, "cname": c, "description": c, "type": "Date" if c == "mdate" else "Number"}
                   for c in ["coid", "mdate", "open_d", "high_d", "low_d", "close_d", "volume"]]
        self.reply(200, {"datatable": {"data": page, "columns": columns}, "meta": {"next_cursor_id": nxt}})

    do_POST = do_GET

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tej_server(monkeypatch):
    import tejapi

    server = HTTPServer(("127.0.0.1", 0), TejStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TejStandIn.requests = []
    monkeypatch.setenv("TEJAPI_BASE", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(tejapi.ApiConfig, "api_base", tejapi.ApiConfig.api_base)
    yield server
    server.shutdown()
    server.server_close()


def test_tej_paginates_through_the_real_client(tej_server, monkeypatch):
    monkeypatch.setenv("TEJAPI_KEY", "good-key")
    prices = load_prices(DataSection(source="tej", symbol="2330"))
    assert len(prices) == 7 and prices["close"].iloc[0] == 503.0
    assert len(TejStandIn.requests) == 3  # three pages
    assert TejStandIn.requests[0]["path"] == "/datatables/TWN/APRCD"
    load_prices(DataSection(source="tej", symbol="2330"))
    assert len(TejStandIn.requests) == 3  # the cache answered


def test_tej_range_with_no_rows(tej_server, monkeypatch):
    monkeypatch.setenv("TEJAPI_KEY", "good-key")
    with pytest.raises(SourceError, match=r"TEJ returned no rows for company '2330' in TWN/APRCD between "
                                          r"2024-01-01 and 2024-06-01\. Check the company id"):
        load_prices(DataSection(source="tej", symbol="2330", start="2024-01-01", end="2024-06-01"))
    assert TejStandIn.requests[-1]["query"]["mdate.gte"] == ["2024-01-01"]  # the range reached the server
    with pytest.raises(SourceError, match=r"TEJ returned no rows for company '9999'"):
        load_prices(DataSection(source="tej", symbol="9999"))


def test_tej_wrong_key(tej_server, monkeypatch):
    monkeypatch.setenv("TEJAPI_KEY", "bad-key")
    with pytest.raises(SourceError, match=r"TEJ rejected the API key in TEJAPI_KEY \(.*Incorrect API key"):
        load_prices(DataSection(source="tej", symbol="2330", refresh=True))


def test_tej_missing_key(monkeypatch):
    monkeypatch.delenv("TEJAPI_KEY", raising=False)
    with pytest.raises(SourceError, match=r"needs a TEJ API key in the TEJAPI_KEY environment variable"):
        load_prices(DataSection(source="tej", symbol="2330"))


def test_tej_no_network(monkeypatch):
    import socket

    import tejapi

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setenv("TEJAPI_KEY", "good-key")
    monkeypatch.setenv("TEJAPI_BASE", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(tejapi.ApiConfig, "api_base", tejapi.ApiConfig.api_base)
    with pytest.raises(SourceError, match=r"could not reach TEJ at http://127.0.0.1:\d+ \(ConnectionError\)"):
        load_prices(DataSection(source="tej", symbol="2330", refresh=True))


def test_data_commands_fetch_list_show(fake_yf, cache):
    from typer.testing import CliRunner

    from backtest.cli import app

    runner = CliRunner()
    env = {"COLUMNS": "200"}
    fetched = runner.invoke(app, ["data", "fetch", "yfinance:AAPL", "--start", "2015-01-01"], env=env)
    assert fetched.exit_code == 0, fetched.output
    assert "yfinance:AAPL: 60 rows 2015-01-01 → 2015-03-25" in fetched.output
    listed = runner.invoke(app, ["data", "list"], env=env)
    assert "yfinance:AAPL" in listed.output and "2015-01-01 → last" in listed.output and "60" in listed.output
    shown = runner.invoke(app, ["data", "show", "sample:sp500", "--start", "2018-12-20"], env=env)
    assert shown.exit_code == 0 and "sample:sp500: 7 rows 2018-12-20 → 2018-12-31" in shown.output
    bad = runner.invoke(app, ["data", "show", "yahoo:AAPL"], env={"COLUMNS": "300"})
    assert bad.exit_code == 2 and "expected SOURCE:SYMBOL" in bad.output
