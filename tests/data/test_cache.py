"""The download cache: a rerun reads it, a damaged file is fetched again, `wfbt data` lists and shows it."""

import json

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import DataSection
from backtest.data.load import load_prices


def test_corrupt_cache_is_detected_and_fetched_again(fake_yf, cache):
    cfg = DataSection(source="yfinance", symbol="AAPL")
    load_prices(cfg)
    (data_file,) = cache.glob("prices/*.csv")
    data_file.write_text(data_file.read_text().replace("2015-01-05", "2015-01-06", 1))
    with pytest.warns(UserWarning, match="is damaged .*checksum mismatch.*downloading it again"):
        again = load_prices(cfg)
    assert len(fake_yf) == 2 and len(again) == 60


def test_run_uses_the_cache_and_refresh_downloads_again(fake_yf, tmp_path):

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


def test_data_commands_fetch_list_show(fake_yf, cache):


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


def test_a_cached_download_of_another_symbol_is_not_served(fake_yf, cache):
    """'^TWII' and '_TWII' share a cache file name (a file name cannot hold '^'): the record must name the
    symbol asked for, or the other symbol's prices would be read as this one's."""
    load_prices(DataSection(source="yfinance", symbol="^TWII"))
    with pytest.warns(UserWarning, match=r"holds another download \(symbol '\^TWII' \(not '_TWII'\)\)"):
        load_prices(DataSection(source="yfinance", symbol="_TWII"))
    assert [call[0] for call in fake_yf] == [["^TWII"], ["_TWII"]]  # downloaded, not served from ^TWII's copy


def test_a_cached_download_whose_rows_differ_from_its_record_is_fetched_again(fake_yf, cache):
    cfg = DataSection(source="yfinance", symbol="AAPL")
    load_prices(cfg)
    (meta,) = cache.glob("prices/*.json")
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "rows": 61}))  # the checksum still matches the data file
    with pytest.warns(UserWarning, match=r"is damaged \(60 rows, the download had 61\); downloading it again"):
        load_prices(cfg)
    assert len(fake_yf) == 2
