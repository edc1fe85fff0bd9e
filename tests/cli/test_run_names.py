"""Run folders named after their data, and resume hints that are the command that works."""

import shlex

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.folder import is_complete
from tests.conftest import run_args, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture
def aapl(tmp_path):
    return write_yahoo_csv(synthetic_prices(420), tmp_path / "AAPL_daily.csv")


def _interrupted(args, monkeypatch):
    """`wfbt run ARGS` stopped (Ctrl-C) as its first network starts training."""
    from backtest.engine import pipeline

    def stop(*_, **__):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pipeline, "train_networks", stop)
        result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 130, result.output
    return result


def _hint(text: str) -> list[str]:
    """The `wfbt run ... --resume` command a message prints on a line of its own, as arguments for the app."""
    (command,) = [line for line in text.splitlines() if line.startswith("wfbt run ") and line.endswith(" --resume")]
    return shlex.split(command)[1:]


def test_the_resume_hint_of_show_and_of_the_interrupt_finishes_a_suffixed_run(aapl, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    args = run_args(aapl, out, "run.name='d'")
    assert runner.invoke(app, args).exit_code == 0
    stopped = _interrupted(args, monkeypatch)  # lands in d-2: d has finished
    assert not is_complete(out / "d-2")
    shown = runner.invoke(app, ["show", str(out / "d-2")], env={"COLUMNS": "400"})
    assert shown.exit_code != 0 and "is incomplete" in said(shown)
    hint = _hint(shown.output)
    assert hint == _hint(stopped.output)
    assert "run.name=d-2" in hint and str(out) in hint
    finished = runner.invoke(app, hint)
    assert finished.exit_code == 0, finished.output
    assert is_complete(out / "d-2") and not (out / "d-3").exists()
    assert "resuming" in finished.output


def test_a_run_on_other_data_is_named_after_the_config_and_the_data(aapl, tmp_path, monkeypatch):
    """The first run finishes in default-AAPL_daily; the same command again, and one with an explicit name, are
    stopped in-process as training starts: the folders they claimed are the names under test."""
    out = tmp_path / "runs"
    result = runner.invoke(app, run_args(aapl, out))  # configs/default.toml, with --set data.path
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("default-AAPL_daily") and is_complete(out / "default-AAPL_daily")
    again = _interrupted(run_args(aapl, out), monkeypatch)
    assert (out / "default-AAPL_daily-2").is_dir() and "run.name=default-AAPL_daily-2" in _hint(again.output)
    named = _interrupted(run_args(aapl, out, "run.name='mine'"), monkeypatch)
    assert (out / "mine").is_dir() and "run.name=mine" in _hint(named.output)  # an explicit name is kept as it is
    assert sorted(p.name for p in out.iterdir()) == ["default-AAPL_daily", "default-AAPL_daily-2", "mine"]
