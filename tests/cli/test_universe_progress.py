"""A universe run's live display (folds with the time left, epochs and loss) on a terminal, none when piped;
SIGTERM stops it leaving nothing that looks finished, with a resume command that works as printed."""

import io
import os
import shlex
import signal
import subprocess
import sys
import time

from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from backtest.cli import run as run_cli
from backtest.cli.app import app
from backtest.runs.folder import is_complete
from tests.conftest import UNIVERSE_TINY, synthetic_universe, write_long_csv

POOLED = ["forecast.models=['lstm']", "universe.memory_gb=0.006", "training.epochs=3", "run.threads=1"]


def _args(csv, out, name, *extra):
    args = ["run", "--out", str(out), "--set", f"run.name={name!r}", "--set", "data.source='csv'",
            "--set", f"data.path={str(csv)!r}"]
    for item in [*UNIVERSE_TINY, *POOLED, *extra]:
        args += ["--set", item]
    return args


def test_the_display_shows_folds_epochs_and_loss_on_a_terminal(tmp_path, monkeypatch):
    csv = write_long_csv(synthetic_universe(8, 300), tmp_path / "u.csv")
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120, color_system=None)
    monkeypatch.setattr(run_cli, "err", terminal)
    result = CliRunner().invoke(app, _args(csv, tmp_path / "runs", "t"))
    assert result.exit_code == 0, result.output
    shown = screen.getvalue()
    assert "folds" in shown and "4/4 trained" in shown  # 4 folds, one chunk each
    assert "lstm" in shown and "val loss" in shown and "epoch" in shown and "0:00:" in shown


def test_no_display_when_piped(tmp_path):
    csv = write_long_csv(synthetic_universe(8, 300), tmp_path / "u.csv")
    result = CliRunner().invoke(app, _args(csv, tmp_path / "runs", "p"))  # CliRunner's streams are no terminal
    assert result.exit_code == 0, result.output
    assert "val loss" not in result.output and "trained" not in result.output


def test_the_live_display_reuses_one_bar_per_architecture():
    bars = Progress(console=Console(file=io.StringIO()))
    live = run_cli.LiveProgress(bars)  # both kinds' display: a single-symbol run never calls folds()
    live.folds(0, 4)
    for _ in range(2):  # two chunks
        live.group_start("lstm", 1, 5)
        live.epoch("lstm", 3, 1, 1, 0.25)
    live.folds(2, 4)
    assert len(bars.tasks) == 2  # the folds and one lstm bar
    assert bars.tasks[0].completed == 2 and bars.tasks[0].total == 4 and bars.tasks[1].completed == 3


def test_sigterm_leaves_nothing_finished_and_the_printed_command_resumes(tmp_path):
    csv = write_long_csv(synthetic_universe(8, 300), tmp_path / "u.csv")
    out = tmp_path / "runs"
    cli = [sys.executable, "-m", "backtest"]
    env = {**os.environ, "COLUMNS": "60"}  # a narrow terminal must not break the command
    args = _args(csv, out, "s", "training.epochs=20", "training.patience=20")
    proc = subprocess.Popen([*cli, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_chunk = out / "s" / "partial" / "chunk-000.chunk.json"
    deadline = time.time() + 300
    while not first_chunk.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert not is_complete(out / "s") and not (out / "s" / "manifest.json").exists()
    assert "interrupted:" in stderr and "Saved: chunk 0" in stderr
    (command,) = [line for line in stderr.splitlines() if line.startswith("wfbt run ")]  # whole, on its own line
    assert command.endswith(" --resume")
    resumed = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "60"})  # in-process resume
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.stderr and is_complete(out / "s") and not (out / "s-2").exists()
