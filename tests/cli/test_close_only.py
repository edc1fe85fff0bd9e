"""Close-only data (a date and a close: index levels, NAVs, FRED series) through `wfbt run`."""

import json

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import run_args, said, synthetic_prices

runner = CliRunner()
CLOSE_ONLY = ["forecast.features=['close']", "backtest.execution='close'"]


@pytest.fixture(scope="module")
def closes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("closes")
    frame = synthetic_prices(420)[["close"]].rename(columns={"close": "Close"}).rename_axis("Date")
    frame.to_csv(tmp / "closes.csv")
    return tmp / "closes.csv"


@pytest.fixture(scope="module")
def set_by_hand(closes):
    """The close-only file run with its inputs and fill set by hand (run c), printed: two tests read it."""
    out = closes.parent / "runs"
    args = [a for a in run_args(closes, out, *CLOSE_ONLY, "run.name='c'") if a != "--quiet"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return out / "c", result


def test_a_close_only_file_runs_and_the_summary_says_the_inputs_and_the_fill(set_by_hand):
    run_dir, result = set_by_hand
    out = said(result)
    assert "inputs: close of each day (close-only data: the file has no open, high or low)" in out
    assert "orders fill at the signal day's close (the data has no open, so there is no next open to fill at)" in out
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["data"]["close_only"] is True and manifest["features"] == ["close"]
    shown = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "200"})
    assert "the data has no open" in said(shown)


def test_a_close_only_file_runs_on_its_close_filled_at_the_close_with_no_setting(closes, set_by_hand, tmp_path):
    """Nothing else is possible for such a file: the default inputs become the close, the fills the close."""
    args = [a for a in run_args(closes, tmp_path / "runs", "run.name='d'") if a != "--quiet"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = said(result)
    assert "inputs: close of each day (close-only data: the file has no open, high or low)" in out
    assert "orders fill at the signal day's close (the data has no open, so there is no next open to fill at)" in out
    written = (tmp_path / "runs" / "d" / "config.toml").read_text()
    assert 'features = ["close"]' in written and 'execution = "close"' in written  # the run as it ran
    chosen = set_by_hand[0]
    for name in ["predictions.csv", "equity.csv"]:  # the same run as the one set by hand
        assert (tmp_path / "runs" / "d" / name).read_bytes() == (chosen / name).read_bytes()


def test_chosen_inputs_that_read_an_open_are_refused_naming_the_features(closes, tmp_path):
    result = runner.invoke(app, run_args(closes, tmp_path / "runs", "forecast.features=['open','close']"))
    assert result.exit_code == 2
    out = said(result)
    assert "the data has closes only (no open, high or low column), so the run needs" in out
    assert """--set "forecast.features=['close']" (it lists open)""" in out
    assert "backtest.execution" not in out and "Traceback" not in result.output


def test_stops_on_a_close_only_file_are_refused_naming_the_high_and_low(closes, tmp_path):
    result = runner.invoke(app, run_args(closes, tmp_path / "runs", "strategies.stop_loss=0.05"))
    assert result.exit_code == 2
    assert "the stops (strategies.stop_loss, take_profit, trailing_stop) are checked against each day's high and " \
           "low. Leave the stops out" in said(result)


def test_a_file_with_some_but_not_all_of_open_high_low_is_still_refused(tmp_path):
    frame = synthetic_prices(420)[["open", "close"]].rename_axis("date")
    frame.to_csv(tmp_path / "oc.csv")
    result = runner.invoke(app, run_args(tmp_path / "oc.csv", tmp_path / "runs", *CLOSE_ONLY))
    assert result.exit_code == 2 and "missing column(s) high, low" in said(result)
