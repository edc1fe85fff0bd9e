"""Messages print every command they quote whole, on a line of its own: a hint copied from the terminal at
any width runs as printed."""

import io
import shlex

import pytest
from rich.console import Console
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.cli.common import say
from backtest.runs.folder import is_complete, resume_command
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()
LONG = ("wfbt run /tmp/pytest-of-someone/pytest-12/test_a_long_name0/runs/killed/partial/config.toml "
        "--out /tmp/pytest-of-someone/pytest-12/test_a_long_name0/runs --set run.name=killed --resume")


def printed(text: str, width: int) -> str:
    out = io.StringIO()
    say(Console(file=out, width=width, color_system=None), "[bold red]interrupted:[/]", text)
    return out.getvalue()


def commands_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("wfbt ")]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_a_quoted_command_is_printed_whole_on_its_own_line(width):
    shown = printed(f"runs/killed is incomplete and will not be read as a finished run. Continue with `{LONG}`.",
                    width)
    assert commands_in(shown) == [LONG], shown
    assert shlex.split(commands_in(shown)[0])[-1] == "--resume"
    prose = [line for line in shown.splitlines() if not line.startswith("wfbt ")]
    assert all(len(line) <= width for line in prose), shown  # the prose around it still wraps
    assert " ".join(" ".join(prose).split()) == ("interrupted: runs/killed is incomplete and will not be read as a "
                                                 "finished run. Continue with")


def test_prose_after_a_command_goes_on_and_markup_in_the_text_is_printed_as_is():
    shown = printed("Finish it with `wfbt run x.toml --set run.name=[a] --resume`, or start [bold]it[/] again.", 40)
    assert commands_in(shown) == ["wfbt run x.toml --set run.name=[a] --resume"]
    assert shown.splitlines()[-1] == "or start [bold]it[/] again."


def test_a_message_without_a_command_prints_as_before():
    assert printed("nothing to keep. Run the same command again.", 80) == (
        "interrupted: nothing to keep. Run the same command again.\n")


def _interrupt(csv, out, monkeypatch):
    """`wfbt run` stopped by Ctrl-C in-process as lstm starts training, after gru's group was saved (the real
    SIGINT is tests/runs/test_checkpoint.py's Ctrl-C test); printed at 60 columns."""
    from backtest.engine import pipeline

    real = pipeline.train_networks

    def stop_at_lstm(model, *args, **kwargs):
        if model == "lstm":
            raise KeyboardInterrupt
        return real(model, *args, **kwargs)

    args = ["run", "--quiet", "--out", str(out), "--set", "run.name='killed'", "--set", "data.source=csv",
            "--set", f"data.path={str(csv)!r}", "--set", "forecast.models=['gru','lstm']"]
    for item in TINY:
        if not item.startswith("forecast.models"):
            args += ["--set", item]
    with monkeypatch.context() as m:
        m.setattr(pipeline, "train_networks", stop_at_lstm)
        return runner.invoke(app, args, env={"COLUMNS": "60"})


def test_the_resume_hint_runs_as_printed_at_60_80_and_100_columns(tmp_path, monkeypatch):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    out = tmp_path / "a-folder-with-a-long-name-so-that-the-hint-is-wider-than-any-terminal" / "runs"
    stopped = _interrupt(csv, out, monkeypatch)
    assert stopped.exit_code == 130 and (out / "killed" / "partial" / "gru.done.json").is_file(), stopped.output
    stderr = stopped.stderr
    expected = resume_command(out / "killed")
    assert len(expected) > 100 and commands_in(stderr) == [expected], stderr
    for columns in (80, 100):  # `wfbt show` of the unfinished run prints the same command
        shown = runner.invoke(app, ["show", str(out / "killed")], env={"COLUMNS": str(columns)})
        assert shown.exit_code == 2 and commands_in(shown.stderr) == [expected], shown.stderr
    argv = shlex.split(commands_in(stderr)[0])
    assert argv[0] == "wfbt" and argv[-1] == "--resume"
    resumed = runner.invoke(app, argv[1:])
    assert resumed.exit_code == 0, resumed.output
    said = " ".join(resumed.stderr.split())
    assert is_complete(out / "killed") and "loading gru from the interrupted run's checkpoint" in said, said
