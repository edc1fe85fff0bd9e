"""yfinance and TEJ adapters against local stand-ins: recorded-shape frames and a loopback TEJ server."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import DataSection
from backtest.core.errors import ConfigError, SourceError
from backtest.data.load import load_prices
from tests.conftest import synthetic_prices


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WFBT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("WFBT_HTTP_BACKOFF", "0.01")  # retries without the real 2 s and 4 s waits
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
    from backtest.data.yahoo import split_yfinance

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

    from backtest.cli.app import app

    with pytest.raises(SourceError, match=r"downloading OFFLINE from Yahoo Finance failed \(Failed to resolve"):
        load_prices(DataSection(source="yfinance", symbol="OFFLINE"))
    result = CliRunner().invoke(app, ["data", "fetch", "yfinance:OFFLINE"], env={"COLUMNS": "300"})
    assert result.exit_code == 3
    assert "Yahoo Finance failed" in result.output and "data.source = 'csv'" in result.output
    assert "Traceback" not in result.output


def test_run_uses_the_cache_and_refresh_downloads_again(fake_yf, tmp_path):
    from typer.testing import CliRunner

    from backtest.cli.app import app
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
    """Answers like TEJ's datatable API: pages linked by next_cursor_id, key in x-api-token.

    ``script`` holds canned answers (status, body, headers) given before the normal ones, ``stall`` makes
    every request wait without answering, and ``rows``/``page_size`` say what there is to page through.
    """

    rows: list[list] = []
    page_size = 3
    script: list[tuple[int, object, dict]] = []
    stall: threading.Event | None = None
    requests: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        query = parse_qs(urlparse(self.path).query)
        type(self).requests.append({"path": urlparse(self.path).path, "query": query})
        if type(self).stall is not None:
            type(self).stall.wait(30)  # released at teardown
            return None
        if type(self).script:
            status, body, headers = type(self).script.pop(0)
            return self.reply(status, body, headers)
        if self.headers.get("x-api-token") != "good-key":
            return self.reply(401, {"error": {"code": "A01", "message": "Incorrect API key"}})
        start = int(query.get("opts.cursor_id", ["0"])[0])
        rows = [r for r in self.rows if r[0] == query.get("coid", ["2330"])[0]
                and r[1][:10] >= query.get("mdate.gte", ["0000"])[0] and r[1][:10] < query.get("mdate.lt", ["9999"])[0]]
        page = rows[start:start + self.page_size]
        nxt = str(start + self.page_size) if start + self.page_size < len(rows) else None
        columns = [{"name": c, "cname": c, "description": c, "type": "Date" if c == "mdate" else "Number"}
                   for c in ["coid", "mdate", "open_d", "high_d", "low_d", "close_d", "volume"]]
        self.reply(200, {"datatable": {"data": page, "columns": columns}, "meta": {"next_cursor_id": nxt}})

    do_POST = do_GET

    def reply(self, status, payload, headers=None):
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


SMALL_ROWS = [["2330", f"2023-01-{d:02d}", 500.0 + d, 505.0 + d, 495.0 + d, 501.0 + d, 1000 + d] for d in range(2, 9)]


def tej_rows(start="2019-01-02", end="2023-01-01", stamp="{}T00:00:00Z"):
    """TSMC-like rows for every weekday, mdate written as an ISO timestamp with a zone (as TEJ can)."""
    days = pd.bdate_range(start, end, inclusive="left")
    p = synthetic_prices(len(days), seed=3, start=start)
    return [["2330", stamp.format(d.date()), o, h, lo, c, v]
            for d, (o, h, lo, c, v) in zip(days, p[["open", "high", "low", "close", "volume"]].to_numpy(), strict=True)]


@pytest.fixture
def tej_server(monkeypatch):
    import tejapi

    server = ThreadingHTTPServer(("127.0.0.1", 0), TejStandIn)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    TejStandIn.requests, TejStandIn.script, TejStandIn.stall = [], [], None
    TejStandIn.rows, TejStandIn.page_size = SMALL_ROWS, 3
    monkeypatch.setenv("TEJAPI_BASE", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("TEJAPI_KEY", "good-key")
    monkeypatch.setattr(tejapi.ApiConfig, "api_base", tejapi.ApiConfig.api_base)
    yield server
    if TejStandIn.stall is not None:
        TejStandIn.stall.set()
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
    with pytest.raises(SourceError, match=r"could not reach TEJ at http://127.0.0.1:\d+ \(ConnectionError: connection "
                                          r"refused\) after 4 tries\. Check the network and TEJAPI_BASE"):
        load_prices(DataSection(source="tej", symbol="2330", refresh=True))


def test_data_commands_fetch_list_show(fake_yf, cache):
    from typer.testing import CliRunner

    from backtest.cli.app import app

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


# --- the README's TEJ command, zoned timestamps, timeouts, retries and TEJ's own errors ----------

ROOT = Path(__file__).resolve().parents[2]
README_TEJ = ["configs/tsmc_article.toml", "--set", "data.source=tej", "--set", "data.symbol=2330"]


def wfbt(*args, env=None, timeout=60):
    """`wfbt` as a user runs it: the installed console script, in a fresh process."""
    script = Path(sys.executable).with_name("wfbt")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "300", **(env or {})})


def test_readme_tej_command_works_against_the_loopback_server(tej_server, tmp_path, monkeypatch):
    """`TEJAPI_KEY=... wfbt run configs/tsmc_article.toml --set data.source=tej --set data.symbol=2330`."""
    TejStandIn.rows, TejStandIn.page_size = tej_rows(), 400  # 2019-2022, mdate as 2019-01-02T00:00:00Z
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", *README_TEJ], env={"COLUMNS": "200"})
    assert planned.exit_code == 0, planned.output
    assert "Walk-forward plan: 1043 rows 2019-01-02 → 2022-12-30" in planned.output
    assert TejStandIn.requests[0]["query"]["mdate.gte"] == ["2019-01-01"]  # the config's range reached TEJ
    quick = ["--out", str(tmp_path / "runs"), "--quiet", "--set", "training.epochs=1", "--set",
             "forecast.models=['lstm']", "--set", "walkforward.max_folds=1"]
    ran = runner.invoke(app, ["run", *README_TEJ, *quick])
    assert ran.exit_code == 0, ran.output
    assert len(TejStandIn.requests) == 3  # the run read the plan's download from the cache
    resolved = (tmp_path / "runs" / "tsmc_article" / "config.toml").read_text()
    assert 'source = "tej"' in resolved and 'symbol = "2330"' in resolved


def test_a_number_given_to_a_text_key_is_that_text():
    from backtest.core.config import load_config

    assert load_config(None, ["data.symbol=2330"]).data.symbol == "2330"
    assert load_config(None, ["data.symbol=0050"]).data.symbol == "0050"  # not valid TOML: a bare string
    assert load_config(None, ["data.symbol=1.50"]).data.symbol == "1.50"  # the text typed, not 1.5
    assert load_config(None, ["run.name=2024"]).run.name == "2024"
    assert load_config(None, ["training.epochs=7"]).training.epochs == 7  # ints stay ints for int keys
    with pytest.raises(ConfigError, match=r"training.lr: expected a number. Got 'fast'."):
        load_config(None, ["training.lr=fast"])


def test_a_number_for_a_text_key_in_a_file_says_to_quote_it(tmp_path):
    from backtest.core.config import load_config

    path = tmp_path / "c.toml"
    path.write_text("[data]\nsource = \"tej\"\nsymbol = 2330\n")
    with pytest.raises(ConfigError, match=r'^data.symbol: expected a string. Got 2330. Quote it: symbol = "2330".$'):
        load_config(path)


@pytest.mark.parametrize("stamp", ["{}T00:00:00Z", "{}T00:00:00.000+08:00", "{}"])
def test_tej_dates_with_or_without_a_zone_keep_their_day(tej_server, stamp):
    TejStandIn.rows = tej_rows("2023-01-02", "2023-03-01", stamp)
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330", "--start", "2023-01-10"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "tej:2330: 36 rows 2023-01-10 → 2023-02-28" in result.output
    again = CliRunner().invoke(app, ["data", "show", "tej:2330", "--start", "2023-01-10"], env={"COLUMNS": "300"})
    assert again.exit_code == 0 and "36 rows 2023-01-10 → 2023-02-28" in again.output  # the cache keeps the day


def test_tej_stalled_server_times_out_with_a_message(tej_server):
    TejStandIn.stall = threading.Event()
    start = time.monotonic()
    result = wfbt("data", "fetch", "tej:2330", env={"WFBT_HTTP_TIMEOUT": "0.3", "WFBT_HTTP_RETRIES": "1",
                                                   "WFBT_HTTP_BACKOFF": "0"})
    assert result.returncode == 3, result.stderr
    assert re.search(r"error: TEJ at http://127.0.0.1:\d+ did not answer within 0.3 s \(2 tries with backoff\): the "
                     r"server or the network is slow or down\. Try again later, or allow more time with "
                     r"WFBT_HTTP_TIMEOUT=60\.", " ".join(result.stderr.split()))
    assert len(TejStandIn.requests) == 2 and time.monotonic() - start < 30
    assert "Traceback" not in result.stderr


def test_tej_429_then_200_is_retried(tej_server):
    TejStandIn.script = [(429, {"error": {"code": "LEX01", "message": "Too many requests"}}, {"Retry-After": "0"})]
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "tej:2330: 7 rows" in result.output
    assert len(TejStandIn.requests) == 4  # the refused first page, then three pages


def test_tej_503_every_time_gives_up_after_the_retries(tej_server, monkeypatch):
    monkeypatch.setenv("WFBT_HTTP_RETRIES", "2")
    TejStandIn.script = [(503, "<html>Service Unavailable</html>", {})] * 5
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "400"})
    assert result.exit_code == 3
    assert ("error: TEJ's server failed for TWN/APRCD for company '2330' (HTTP 503: a body that is not TEJ's error "
            "format, starting '<html>Service Unavailable</html>') on all 3 tries with backoff. Try again later.") in \
        " ".join(result.output.split())
    assert len(TejStandIn.requests) == 3


def test_tej_answer_that_is_not_json(tej_server):
    TejStandIn.script = [(200, "<html><body>Please log in</body></html>", {})]
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "400"})
    assert result.exit_code == 3
    message = " ".join(result.output.split())
    assert re.search(r"error: TEJ at http://127.0.0.1:\d+ answered with something that is not JSON \(it starts with "
                     r"'<html><body>Please log in</body></html>'\), so it is not TEJ's datatable API: perhaps a "
                     r"proxy, login or error page\. Check TEJAPI_BASE, or unset it to use TEJ's own server\.", message)
    assert "could not reach" not in message


def test_tej_json_that_is_not_a_datatable(tej_server):
    TejStandIn.script = [(200, {"hello": "world"}, {})]
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "400"})
    assert result.exit_code == 3
    assert "TEJ's answer for TWN/APRCD for company '2330' is malformed (KeyError: 'datatable')" in \
        " ".join(result.output.split())


@pytest.mark.parametrize(("status", "code", "message", "expected"), [
    (400, "PDB003", "no permission", r"TEJ refused TWN/APRCD to this API key \(\(Status 400\) \(Tej Error PDB003\) no "
                                     r"permission\): the subscription does not include that table\. Use a table"),
    (400, "S0201", "table not found", r"TEJ could not serve TWN/APRCD for company '2330' \(\(Status 400\) \(Tej Error "
                                      r"S0201\) table not found\)\. Check data.table \(DATABASE/TABLE"),
    (429, "LDR01", "daily quota", r"TEJ refused more requests from this API key \(\(Status 429\) \(Tej Error LDR01\) "
                                  r"daily quota\) after 4 tries with backoff: its call or row limit is used up"),
    (401, "A01", "Incorrect API key", r"TEJ rejected the API key in TEJAPI_KEY \(\(Status 401\) \(Tej Error A01\) "
                                      r"Incorrect API key\)\. Check the key"),
])
def test_tej_own_errors_are_translated(tej_server, status, code, message, expected):
    TejStandIn.script = [(status, {"error": {"code": code, "message": message}}, {})] * 4
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "400"})
    assert result.exit_code == 3
    assert re.search("error: " + expected, " ".join(result.output.split())), result.output


def test_http_settings_from_the_environment_are_checked(tej_server, monkeypatch):
    monkeypatch.setenv("WFBT_HTTP_TIMEOUT", "soon")
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert ("error: WFBT_HTTP_TIMEOUT: expected a number of seconds above 0 and at most 600, e.g. 30. Got 'soon'. "
            "Fix or unset the environment variable.") in " ".join(result.output.split())


@pytest.fixture
def stalled_proxy():
    """A proxy that accepts connections and never answers: what a stalled network looks like to curl."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def serve():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}", held
    srv.close()
    for conn in held:
        conn.close()


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
