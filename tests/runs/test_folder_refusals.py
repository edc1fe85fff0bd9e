"""Run folders a run must not leave behind or reuse: the out folder it made, a finished run resumed."""


import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import run_args, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture
def csv(tmp_path):
    return write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")


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
