"""TEJ through tejapi, against a loopback TEJ server: pages, dates, timeouts, retries and TEJ's own errors."""

import re
import socket
import threading
import time

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import DataSection
from backtest.core.errors import SourceError
from backtest.data.load import load_prices
from tests.data.conftest import README_TEJ, ROOT, TejStandIn, tej_rows, wfbt


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
    resolved = (tmp_path / "runs" / "tsmc_article-2330" / "config.toml").read_text()  # the folder follows the data
    assert 'source = "tej"' in resolved and 'symbol = "2330"' in resolved


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
