"""Inputs a demanding user tried that used to end wrong (exit 0 with wrong numbers, a bug message, a folder
outside --out or left behind): each now ends in a message naming the fix, through the real entry point."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import DataSection
from backtest.core.errors import DataError, DataWarning
from backtest.data.load import check_prices, load_prices
from backtest.scoring.significance import model_confidence_set
from tests.conftest import SHARED_DATA, TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()


def said(result) -> str:
    return " ".join(result.output.split())


def run_args(csv: Path, out: Path, *sets: str) -> list[str]:
    args = ["run", "--quiet", "--out", str(out), "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}"]
    for item in [*TINY, *sets]:
        args += ["--set", item]
    return args


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
    assert result.exit_code == 2 and "is a sweep: run it with `wfbt sweep FILE`" in said(result)


def test_a_failed_run_removes_the_out_folder_it_made_but_not_one_that_was_there(csv, tmp_path):
    out = tmp_path / "new" / "deeper"
    result = runner.invoke(app, run_args(csv, out, "data.start='2030-01-01'"))
    assert result.exit_code == 2 and not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    runner.invoke(app, run_args(csv, tmp_path / "kept", "data.start='2030-01-01'"))
    assert (tmp_path / "kept").is_dir()


def test_resume_of_a_finished_run_and_resume_with_force_are_refused(csv, tmp_path):
    out = tmp_path / "runs"
    assert runner.invoke(app, run_args(csv, out, "run.name='r'")).exit_code == 0
    again = runner.invoke(app, [*run_args(csv, out, "run.name='r'"), "--resume"], env={"COLUMNS": "300"})
    assert again.exit_code == 2 and "has already finished: there is nothing to resume" in said(again)
    both = runner.invoke(app, [*run_args(csv, out, "run.name='r'"), "--resume", "--force"], env={"COLUMNS": "300"})
    assert both.exit_code == 2 and "--force and --resume contradict each other" in said(both)
    assert sorted(p.name for p in out.iterdir()) == ["r"]  # no r-2 trained behind the user's back


# --- prices that are not daily bars, or not continuous ----------------------------------------------------

def test_weekly_bars_are_refused():
    weekly = synthetic_prices(200).iloc[::5]
    with pytest.raises(DataError, match=r"the bars are 7 calendar days apart \(median\): weekly bars, but wfbt "
                                        r"needs daily bars"):
        check_prices(weekly, "w.csv")
    monthly = synthetic_prices(600).iloc[::21]
    with pytest.raises(DataError, match="monthly bars"):
        check_prices(monthly, "m.csv")


def test_a_gap_of_months_is_refused_naming_both_sides():
    prices = synthetic_prices(400)
    holed = prices.drop(prices.index[100:160])  # 12 weeks missing
    first, after = holed.index[99].date(), holed.index[100].date()
    with pytest.raises(DataError, match=rf"no rows from {first} to {after} \(85 days; 1 gap\(s\) over 31 days in "
                                        rf"all\).*--set data.start={after} or --set data.end={first}"):
        check_prices(holed, "g.csv")


def test_the_shared_price_files_have_no_such_gap():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        for path in sorted(SHARED_DATA.glob("*.csv")):
            assert len(load_prices(DataSection(source="csv", path=str(path), start="1990-01-01"))) > 1000


def test_an_overnight_halving_is_named_as_a_possible_split():
    prices = synthetic_prices(300)
    prices.iloc[:150, :4] *= 7  # a 7-for-1 split the file was not adjusted for
    with pytest.warns(DataWarning, match=r"on \d{4}-\d\d-\d\d \(1 such overnight jump\(s\) of more than 2x\): a "
                                         "stock split not adjusted for"):
        check_prices(prices, "s.csv")


def test_intraday_bars_are_named_as_intraday():
    days = pd.bdate_range("2020-01-01", periods=30)
    rows = synthetic_prices(30 * 7)
    rows.index = np.repeat(days, 7)
    with pytest.raises(DataError, match="these look like intraday bars. wfbt needs one row per trading day: resample"):
        check_prices(rows, "h.csv")


def test_the_model_confidence_set_works_at_any_price_scale():
    rng = np.random.default_rng(3)
    base = rng.normal(1.0, 0.3, 300) ** 2
    losses = pd.DataFrame({"good": base, "also": base + rng.normal(0, 0.05, 300), "bad": base * 3})
    normal = model_confidence_set(losses, 0.1, 300, 0)
    tiny = model_confidence_set(losses * 1e-12, 0.1, 300, 0)  # squared errors of a token priced near 3e-5
    assert not tiny.isna().any() and (normal > 0.1).equals(tiny > 0.1)


# --- sweeps and compare ------------------------------------------------------------------------------------

def sweep_text(name: str = "s", grid: str = "'forecast.lookback' = [5, 10]", symbols: str = '["sample:sp500"]'):
    return f"[sweep]\nname = {json.dumps(name)}\nsymbols = {symbols}\n[grid]\n{grid}\n"


@pytest.mark.parametrize(("text", "message"), [
    (sweep_text(name="../../evil"), "sweep.name must be a plain folder name"),
    (sweep_text(grid="'forecast.lookback' = [5, 5]"), "[grid] forecast.lookback lists a value twice. Got [5, 5]."),
    (sweep_text(grid="'training.lr' = [0.001, 0.0010]"), "[grid] training.lr lists a value twice."),
    (sweep_text(grid="'data.path' = ['a.csv']"), "[grid] data.path: the sweep's symbols choose the data"),
    (sweep_text(grid="'run.name' = ['a', 'b']"), "[grid] run.name: each cell's run folder is named by the sweep"),
])
def test_sweep_files_that_would_escape_or_repeat_cells_are_refused(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = runner.invoke(app, ["sweep", str(path), "--plan", "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and message in said(result), result.output
    assert not (tmp_path / "evil").exists()


def test_a_run_config_given_to_sweep_points_to_wfbt_run():
    result = runner.invoke(app, ["sweep", "configs/default.toml", "--plan"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "This looks like a run config: run it with `wfbt run configs/default.toml`" \
        in said(result)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fin")
    csv = write_yahoo_csv(synthetic_prices(300), tmp / "p.csv")
    assert runner.invoke(app, run_args(csv, tmp / "runs", "run.name='a'")).exit_code == 0
    assert runner.invoke(app, run_args(csv, tmp / "runs", "run.name='b'")).exit_code == 0
    return tmp / "runs"


@pytest.mark.parametrize(("option", "pattern", "message"), [
    ("--strategy", "nomatch*", "--strategy 'nomatch*' matches nothing in these runs. They have: bollinger,"),
    ("--model", "gru*", "--model 'gru*' matches nothing in these runs. They have: drift, linear, lstm."),
])
def test_compare_patterns_that_match_nothing_are_refused(finished, option, pattern, message):
    result = runner.invoke(app, ["compare", str(finished / "a"), str(finished / "b"), option, pattern],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2 and message in said(result), result.output


def test_compare_of_a_sweep_folder_says_what_it_is(tmp_path, finished):
    sweep = tmp_path / "sw"
    (sweep / "cell1").mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    result = runner.invoke(app, ["compare", str(finished / "a"), str(sweep)], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "is a sweep folder, not one run" in said(result)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("WFBT_HTTP_RETRIES", "1000000", "WFBT_HTTP_RETRIES: expected a whole number from 0 to 10, e.g. 3."),
    ("WFBT_HTTP_BACKOFF", "3600", "WFBT_HTTP_BACKOFF: expected a number of seconds from 0 to 30, e.g. 1."),
])
def test_retries_and_backoff_are_bounded(monkeypatch, name, value, message):
    from backtest.core.errors import ConfigError
    from backtest.data.http import HttpPolicy
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        HttpPolicy.from_env()


def test_a_cache_dir_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("WFBT_CACHE_DIR", str(tmp_path / "cachefile"))
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "300", "WFBT_CACHE_DIR": str(tmp_path / "cachefile")})
    assert result.exit_code == 2 and "is a file, not a folder. Point WFBT_CACHE_DIR at a folder" in said(result)


def test_a_sweep_whose_every_cell_fails_is_an_error_with_no_leaderboard(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(name="allbad", symbols='["sample:nosuch"]', grid="'forecast.lookback' = [5]"))
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "every cell of sweep allbad failed (above): there is nothing to rank" in said(result)
    assert not (tmp_path / "o" / "allbad" / "leaderboard.csv").exists()


def test_a_sweep_into_an_existing_folder_is_refused_before_a_cluster_starts(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(name="again", grid="'forecast.lookback' = [5]"))
    (tmp_path / "o" / "again").mkdir(parents=True)
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "exists. Continue it with --resume" in said(result)
    assert "Dask dashboard" not in result.output
