"""Run configs that used to pass with wrong numbers or crash: each is refused with a message naming the fix."""

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import run_args, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture
def csv(tmp_path):
    return write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")


@pytest.mark.parametrize(("sets", "message"), [
    (["run.seed=-1"], "run.seed must be a whole number from 0 to 4294967295 (2**32 - 1), e.g. 0. Got -1."),
    (["run.name='" + "x" * 150 + "'"], "run.name is 150 characters long; keep it to 100 or fewer"),
    (["forecast.features=['close', 'close']"], "forecast.features lists a name twice. Got ['close', 'close']."),
    (["strategies.rules=['vote', 'vote']"], "strategies.rules lists a name twice. Got ['vote', 'vote']."),
    (["data.adjusted=true"], 'data.adjusted = true applies to data.source = "yfinance" only'),
    (["forecast.models=[lstm]"],
     """Quote each item and the whole setting for the shell: --set "forecast.models=['a', 'b']"."""),
])
def test_settings_that_used_to_pass_or_crash_are_refused(csv, tmp_path, sets, message):
    result = runner.invoke(app, run_args(csv, tmp_path / "out", *sets), env={"COLUMNS": "300"})
    assert result.exit_code == 2 and message in said(result), result.output
    assert not (tmp_path / "out").exists()  # nothing left behind, not even the --out folder


def test_a_date_key_given_a_number_is_told_to_write_a_date(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[data]\nstart = 2016\n")
    result = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "data.start: expected a date such as 2016-01-01. Got 2016. Write start = 2016-01-01" in said(result)
    path.write_text("[data]\nstart = 10:00:00\n")
    assert "Got 10:00:00." in said(runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "300"}))


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[run]\nname = 'bom'\n")
    result = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output


def test_a_sweep_file_given_to_run_points_to_wfbt_sweep(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[sweep]\nname = 's'\n[grid]\n'forecast.lookback' = [5]\n")
    result = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "is a sweep: run it with\nwfbt sweep FILE" in result.output
