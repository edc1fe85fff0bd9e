"""`wfbt compare` of what it cannot compare: patterns that match nothing, a sweep folder."""


import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import run_args, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()


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
