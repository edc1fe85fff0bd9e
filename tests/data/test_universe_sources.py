"""A universe from yfinance or TEJ: `data.symbols` (or a file of them) through the adapters and the download
cache, run by `wfbt run`, each symbol's failure reported as the CSV loader reports it."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import load_config
from backtest.core.errors import ConfigError, DataError
from backtest.data.universe import read_symbols
from backtest.runs.folder import is_complete
from tests.conftest import UNIVERSE_TINY, said, synthetic_prices
from tests.data.conftest import TejStandIn, yahoo_adjusted, yahoo_frame

runner = CliRunner()
TICKERS = ["S0", "S1", "S2", "S3", "S4"]


def universe_args(out, *sets):
    args = ["run", "--out", str(out)]
    for item in [*UNIVERSE_TINY, "strategies.rules=[]", *sets]:
        args += ["--set", item]
    return args


@pytest.fixture
def yahoo(monkeypatch):
    """yfinance.download answering 300 weekdays per known ticker; NOPE is not known (as Yahoo leaves it out)."""
    import yfinance

    calls = []

    def download(tickers, **kwargs):
        tickers = [tickers] if isinstance(tickers, str) else list(tickers)
        calls.append(tickers)
        known = [t for t in tickers if t != "NOPE"]
        frame = yahoo_frame(known, n=300) if known else pd.DataFrame()
        if known and kwargs.get("auto_adjust"):  # Yahoo's adjustment: every price scaled by Adj Close / Close
            frame = yahoo_adjusted(frame)
        return frame

    monkeypatch.setattr(yfinance, "download", download)
    return calls


def test_a_yfinance_universe_runs_through_the_cache_and_reports_a_missing_ticker(yahoo, tmp_path):
    symbols = "data.symbols=['S0','S1','S2','S3','S4','NOPE']"
    result = runner.invoke(app, universe_args(tmp_path / "runs", "data.source='yfinance'", symbols, "run.name='y'"),
                           env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "y"
    assert is_complete(run)
    out = said(result)
    assert "yfinance: 5 of 6 symbols kept, 1 refused (NOPE)" in out  # the CSV loader's totals warning
    summary = pd.read_csv(run / "symbols.csv", index_col="symbol")
    assert summary.loc["NOPE", "status"] == "refused" and "NOPE" in summary.loc["NOPE", "reason"]
    assert (summary.drop(index="NOPE")["status"] == "ok").all()
    assert json.loads((run / "manifest.json").read_text())["data"]["symbols"] == 5
    assert yahoo[0] == [*TICKERS, "NOPE"]  # one request for all of them first
    asked = len(yahoo)
    again = runner.invoke(app, universe_args(tmp_path / "runs", "data.source='yfinance'", symbols, "run.name='y2'"))
    assert again.exit_code == 0, again.output
    assert len(yahoo) == asked + 1  # the five kept came from the cache; only NOPE was asked again
    for name in ["scores.csv.gz", "equity.csv"]:
        assert (run / name).read_bytes() == (tmp_path / "runs" / "y2" / name).read_bytes()
    refreshed = runner.invoke(app, universe_args(tmp_path / "runs", "data.source='yfinance'", symbols,
                                                 "data.refresh=true", "run.name='y3'"))
    assert refreshed.exit_code == 0 and yahoo[asked + 1] == [*TICKERS, "NOPE"]  # data.refresh: all asked again


def test_a_tej_universe_from_a_file_of_company_ids(tej_server, tmp_path):
    ids = ["2330", "2317", "2454", "2412", "1301"]
    days = pd.bdate_range("2019-01-02", periods=300)
    TejStandIn.rows = [[coid, f"{d.date()}T00:00:00Z", *row] for k, coid in enumerate(ids)
                       for d, row in zip(days, synthetic_prices(300, seed=k)[["open", "high", "low", "close",
                                                                             "volume"]].to_numpy().tolist(),
                                         strict=True)]
    TejStandIn.page_size = 500
    listing = tmp_path / "ids.txt"
    listing.write_text("# TWSE names\ncoid\n2330\n2317, 2454\n\n2412\n1301\n9999  # delisted\n")
    result = runner.invoke(app, universe_args(tmp_path / "runs", "data.source='tej'", f"data.path='{listing}'",
                                              "data.table='TWN/APRCD2'", "run.name='t'"), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "runs" / "t" / "symbols.csv", index_col="symbol", dtype={"symbol": str})
    assert sorted(summary.index[summary["status"] == "ok"]) == sorted(ids)
    assert summary.loc["9999", "status"] == "refused" and "9999" in summary.loc["9999", "reason"]
    assert "tej: 5 of 6 symbols kept, 1 refused (9999)" in said(result)
    asked = {q["query"]["coid"][0] for q in TejStandIn.requests}
    assert asked == {*ids, "9999"} and all(q["path"].endswith("TWN/APRCD2") for q in TejStandIn.requests)


def test_a_universe_whose_symbols_all_fail_names_them_and_the_fix(yahoo, tmp_path):
    result = runner.invoke(app, universe_args(tmp_path / "runs", "data.source='yfinance'",
                                              "data.symbols=['S0','NOPE','S1']", "universe.min_symbols=4"))
    assert result.exit_code == 2, result.output
    out = said(result)
    assert "yfinance: only 2 of 3 symbol(s) passed the checks, fewer than min_symbols = 4. Dropped: NOPE:" in out
    assert "lower universe.min_symbols" in out and "Traceback" not in result.output


@pytest.mark.parametrize(("sets", "message"), [
    (["data.source='yfinance'"], "a yfinance universe needs its symbols: data.symbols = "),
    (["data.source='tej'", "data.symbols=['2330','2317']", "data.path='ids.txt'"], "Got both. Set one of the two."),
    (["data.source='yfinance'", "data.symbols=['AAPL','AAPL','MSFT']"], "Got twice: AAPL. Remove it."),
    (["data.source='yfinance'", "data.symbols=['AAPL',' ']"], "Got an empty name. Remove it."),
    (["data.source='csv'", "data.path='u.csv'", "data.symbols=['AAPL']"], "a csv universe's symbols are the ones in"),
    (["data.source='sample'"], "or \"yfinance\" / \"tej\" with data.symbols. Got data.source = 'sample'"),
])
def test_a_universe_source_is_checked_where_it_enters(sets, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, [*UNIVERSE_TINY, *sets])
    assert message in str(info.value)


def test_symbols_in_a_single_symbol_run_are_refused_naming_universe_enabled():
    with pytest.raises(ConfigError, match=r"data.symbols = \['AAPL', 'MSFT'\] does not apply to a single-symbol run: "
                                          r"it lists a universe's yfinance/tej symbols.* Set universe.enabled = true"):
        load_config(None, ["data.source='yfinance'", "data.symbols=['AAPL','MSFT']"])


def test_adjusted_yfinance_prices_reach_the_universe(yahoo):
    from backtest.engine.universe import configured_universe

    def close(*sets):
        config = load_config(None, [*UNIVERSE_TINY, "data.source='yfinance'", "data.symbols=['S0','S1','S2','S3']",
                                    *sets])
        with pytest.warns(UserWarning, match="4 of 4 symbols kept"):
            return configured_universe(config).field("close")

    traded, adjusted = close(), close("data.adjusted=true", "data.refresh=true")
    assert adjusted.to_numpy() == pytest.approx(traded.to_numpy() * 0.98)  # the stand-in's Adj Close
    assert close("data.adjust='adjusted'", "data.refresh=true").to_numpy() == pytest.approx(adjusted.to_numpy())


class TestSymbolFile:
    def test_one_a_line_with_comments_blanks_commas_and_a_header(self, tmp_path):
        path = tmp_path / "s.txt"
        path.write_text("\ufeffTicker\nAAPL  # Apple\n\nMSFT,GOOG; BRK-B\n\tTSM\n")
        assert read_symbols(str(path)) == ["AAPL", "MSFT", "GOOG", "BRK-B", "TSM"]

    def test_a_csv_table_gives_its_symbol_column(self, tmp_path):
        path = tmp_path / "s.csv"
        path.write_text("symbol,sector\nAAPL,Tech\nXOM,Energy\n")
        assert read_symbols(str(path)) == ["AAPL", "XOM"]

    def test_a_symbol_listed_twice_is_read_once_and_said(self, tmp_path):
        path = tmp_path / "s.txt"
        path.write_text("AAPL\nMSFT\nAAPL\n")
        with pytest.warns(UserWarning, match=r"AAPL listed more than once; each is read once"):
            assert read_symbols(str(path)) == ["AAPL", "MSFT"]

    @pytest.mark.parametrize(("content", "message"), [
        (None, "is not a file. Point it at a text file of the universe's symbols"),
        ("# nothing\n\n", "lists no symbol. Write the universe's tickers"),
        (b"PK\x03\x04excel", "Excel"),
    ])
    def test_what_cannot_be_a_list_is_refused_with_the_fix(self, tmp_path, content, message):
        path = tmp_path / "s.txt"
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(content)
        with pytest.raises(DataError, match=message):
            read_symbols(str(path))
