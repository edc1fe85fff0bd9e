"""The network sources' stand-ins for tests/data: recorded-shape yfinance frames, a loopback TEJ server, a
stalled proxy."""

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

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


# --- the README's TEJ command, zoned timestamps, timeouts, retries and TEJ's own errors ----------

ROOT = Path(__file__).resolve().parents[2]
README_TEJ = ["configs/tsmc_article.toml", "--set", "data.source=tej", "--set", "data.symbol=2330"]


def wfbt(*args, env=None, timeout=60):
    """`wfbt` as a user runs it: the installed console script, in a fresh process."""
    script = Path(sys.executable).with_name("wfbt")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "300", **(env or {})})


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




def yahoo_adjusted(frame: pd.DataFrame) -> pd.DataFrame:
    """Yahoo's auto_adjust of a yahoo_frame: every price scaled by Adj Close / Close, Adj Close dropped."""
    factor = frame["Adj Close"] / frame["Close"]
    out = pd.concat({f: frame[f] * (factor if f != "Volume" else 1)
                     for f in ["Close", "High", "Low", "Open", "Volume"]}, axis=1)
    out.columns.names = ["Price", "Ticker"]
    return out
