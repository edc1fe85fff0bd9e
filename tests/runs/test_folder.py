"""Run folders through the real `wfbt` entry point: claimed by one run at a time, named safely, never left empty."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.folder import LOCK, _try_lock, is_complete
from backtest.runs.store import read_run
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture
def csv(tmp_path):
    return write_yahoo_csv(synthetic_prices(420), tmp_path / "prices.csv")


def args_for(csv, out, name, *extra):
    args = ["run", "--quiet", "--out", str(out), "--set", f"run.name={name!r}", "--set", "data.source='csv'",
            "--set", f"data.path={str(csv)!r}"]
    for item in [*TINY, *extra]:
        args += ["--set", item]
    return args


def invoke(args):
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    return result, " ".join(result.output.split())


# Runs `wfbt` with os.mkdir wrapped so that the first folder a process makes inside OUT waits until
# both processes got there: whatever each decided before making its folder, they then make it at the same
# moment (the worst interleaving, every time, instead of a race that is lost only now and then).
TOGETHER = """
import os, sys, time
from pathlib import Path
barrier, out = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
real, waited = os.mkdir, []
def mkdir(path, *args, **kwargs):
    if not waited and Path(path).resolve().parent == out:
        waited.append(path)
        (barrier / str(os.getpid())).touch()
        deadline = time.time() + 120
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.001)
    return real(path, *args, **kwargs)
os.mkdir = mkdir
sys.argv = ["wfbt", *sys.argv[3:]]
from backtest.cli.app import main
main()
"""


def test_two_runs_started_together_never_share_a_folder(csv, tmp_path):
    """Same run.name and --out, different settings, two real processes at once: two folders, both whole."""
    out, barrier = tmp_path / "runs", tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "COLUMNS": "200"}
    settings = ["strategies.threshold=0.0", "strategies.threshold=0.001"]
    procs = [subprocess.Popen([sys.executable, "-c", TOGETHER, str(barrier), str(out),
                               *args_for(csv, out, "same", s)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in settings]
    results = [p.communicate(timeout=300) for p in procs]
    assert len(list(barrier.iterdir())) == 2  # both met at the barrier
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in results]
    folders = [Path(o.strip().splitlines()[-1]) for o, _ in results]
    assert sorted(f.name for f in folders) == ["same", "same-2"]
    for folder, setting in zip(folders, settings, strict=True):
        assert f"threshold = {float(setting.split('=')[1])!r}" in (folder / "config.toml").read_text()
        assert is_complete(folder) and read_run(folder).manifest["name"] == "same"
        assert not (folder / LOCK).exists()  # let go when the run ended


def test_force_and_resume_refuse_a_folder_a_live_run_holds(csv, tmp_path):
    out = tmp_path / "runs"
    first, _ = invoke(args_for(csv, out, "busy"))
    assert first.exit_code == 0
    fd = _try_lock(out / "busy")  # this test process stands in for a run still using the folder
    message = (f"error: run folder {str(out / 'busy')!r} is in use by a running wfbt (process {os.getpid()}). "
               "Wait for it to finish or stop it, or give this run another run.name.")
    try:
        forced, text = invoke([*args_for(csv, out, "busy"), "--force"])  # a --force run still loading its data
        assert forced.exit_code == 2 and message in text, text
        assert is_complete(out / "busy")  # untouched by the refused run
        (out / "busy" / ".incomplete").write_text("")  # a run in training
        resumed, text = invoke([*args_for(csv, out, "busy"), "--resume"])
        assert resumed.exit_code == 2 and message in text, text
    finally:
        os.close(fd)


def test_a_killed_runs_lock_does_not_block_resume(csv, tmp_path):
    """A lock is only as alive as its process: one killed with SIGKILL leaves a lock file nobody holds."""
    out = tmp_path / "runs"
    (out / "dead").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from backtest.runs.folder import _try_lock; assert _try_lock(Path(sys.argv[1])); "
                               "print('held', flush=True); time.sleep(600)", str(out / "dead")],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    (out / "dead" / ".incomplete").write_text("")
    refused, _ = invoke([*args_for(csv, out, "dead"), "--resume"])
    assert refused.exit_code == 2
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (out / "dead" / LOCK).read_text().strip() == str(holder.pid)  # the stale lock file is still there
    resumed, text = invoke([*args_for(csv, out, "dead"), "--resume"])
    assert resumed.exit_code == 0, text
    assert resumed.output.strip().endswith(str(out / "dead")) and is_complete(out / "dead")


@pytest.mark.parametrize("name", ["../../x", "ABSOLUTE", ""])
def test_run_names_cannot_leave_the_output_folder(csv, tmp_path, name):
    out = tmp_path / "a" / "b" / "runs"
    name = str(tmp_path / "elsewhere") if name == "ABSOLUTE" else name
    result, text = invoke(args_for(csv, out, name))
    assert result.exit_code == 2
    assert f"run.name must be a plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'), since the run " \
           f"is written to out_dir/<name>. Got {name!r}." in text
    assert not (tmp_path / "a" / "x").exists() and not (tmp_path / "elsewhere").exists()
    assert not out.exists()  # nothing written anywhere


def test_a_run_failing_on_its_input_leaves_no_folder(csv, tmp_path):
    out = tmp_path / "runs"
    bad, text = invoke(args_for(csv, out, "r", "walkforward.train_days=5000"))
    assert bad.exit_code == 2 and "one fold needs more than walkforward.train_days" in text
    assert not (out / "r").exists()
    good, _ = invoke(args_for(csv, out, "r"))
    assert good.exit_code == 0 and good.output.strip().endswith(str(out / "r"))  # not r-2


def test_a_failing_forced_run_leaves_the_old_run_whole(csv, tmp_path):
    out = tmp_path / "runs"
    assert invoke(args_for(csv, out, "keep"))[0].exit_code == 0
    before = {p.name: p.read_bytes() for p in (out / "keep").iterdir()}
    bad, _ = invoke([*args_for(csv, out, "keep", "data.path='missing.csv'"), "--force"])
    assert bad.exit_code == 2
    assert {p.name: p.read_bytes() for p in (out / "keep").iterdir()} == before  # not ours to remove or change
    assert read_run(out / "keep").manifest["name"] == "keep"


def test_a_failing_resume_keeps_the_interrupted_folder(csv, tmp_path):
    out = tmp_path / "runs"
    (out / "half" / "partial").mkdir(parents=True)
    (out / "half" / ".incomplete").write_text("")
    bad, _ = invoke([*args_for(csv, out, "half", "data.path='missing.csv'"), "--resume"])
    assert bad.exit_code == 2 and (out / "half" / "partial").is_dir()


def test_an_abandoned_empty_folder_is_reused(csv, tmp_path):
    """A run killed after claiming its folder but before training leaves only a lock nobody holds."""
    out = tmp_path / "runs"
    (out / "gone").mkdir(parents=True)
    (out / "gone" / LOCK).write_text("999999\n")
    result, _ = invoke(args_for(csv, out, "gone"))
    assert result.exit_code == 0 and result.output.strip().endswith(str(out / "gone"))


def test_out_naming_a_file_is_a_message(csv, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "runs"):
        result, text = invoke(args_for(csv, out, "x"))
        assert result.exit_code == 2, text
        assert (f"error: cannot create a run folder in --out / run.out_dir {str(out)!r}: it is a file, not a folder. "
                "Pass --out a folder you can write to (it is created if missing).") in text


def test_out_in_a_read_only_place_is_a_message(csv, tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits; /proc refuses even root
        out = Path("/proc/wfbt-runs")
    else:
        out = tmp_path / "ro"
        out.mkdir()
        out.chmod(0o555)
    result, text = invoke(args_for(csv, out, "x"))
    assert result.exit_code == 2, text
    assert f"error: cannot create a run folder in --out / run.out_dir {str(out)!r}: " in text
    assert "Pass --out a folder you can write to (it is created if missing)." in text


def test_nothing_is_marked_complete_before_the_summary_is_shown(csv, tmp_path, monkeypatch):
    """A crash while showing the summary leaves the run unfinished (resumable), not complete."""
    import backtest.report.console

    def broken(summary, console):
        assert not is_complete(summary.run_dir)  # every artifact written, not yet marked complete
        raise RuntimeError("console broke")

    monkeypatch.setattr(backtest.report.console, "render", broken)
    out = tmp_path / "runs"
    args = [a for a in args_for(csv, out, "c") if a != "--quiet"]
    result, text = invoke(args)
    assert result.exit_code == 1 and "failed unexpectedly: RuntimeError: console broke" in text
    assert not is_complete(out / "c") and (out / "c" / ".incomplete").exists() and (out / "c" / "partial").is_dir()
    monkeypatch.undo()
    resumed, text = invoke([*args_for(csv, out, "c"), "--resume"])
    assert resumed.exit_code == 0, text
    manifest = json.loads((out / "c" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["resumed"] and manifest["loaded_from_checkpoint"] == ["lstm"]


def test_show_tells_a_run_still_going_from_an_interrupted_one(tmp_path):
    run = tmp_path / "runs" / "going"
    (run / "partial").mkdir(parents=True)
    (run / ".incomplete").write_text("")
    (run / LOCK).write_text(f"{os.getpid()}\n")  # a live process: this one
    result, text = invoke(["show", str(run)])
    assert result.exit_code == 2
    assert f"error: run folder {str(run)!r} is still being written by a running wfbt (process {os.getpid()}). " \
           "Wait for it to finish." in text
    (run / LOCK).write_text("999999999\n")  # no such process: the run was killed
    result, text = invoke(["show", str(run)])
    assert result.exit_code == 2 and "is incomplete: the run was interrupted or failed before it finished" in text


@pytest.mark.parametrize(("saved", "kept"), [([], False), (["chunk-000.parts.csv"], True), (["lstm.done.json"], True)])
def test_a_refusal_after_training_started_removes_the_folder_only_when_nothing_was_saved(tmp_path, saved, kept):
    """A check refusing the run once .incomplete and partial/state.json exist: nothing saved, the folder goes (the
    rerun keeps the name); a saved chunk or group stays for --resume, as does anything after a Ctrl-C."""
    from backtest.core.errors import ConfigError
    from backtest.runs.folder import claim_run_dir, start_run_dir

    with pytest.raises(ConfigError), claim_run_dir(tmp_path, "r") as folder:
        start_run_dir(folder.path)
        (folder.path / "partial").mkdir()
        for name in ["state.json", "config.toml", *saved]:
            (folder.path / "partial" / name).write_text("x")
        raise ConfigError("refused")
    assert (tmp_path / "r").exists() is kept
    with pytest.raises(KeyboardInterrupt), claim_run_dir(tmp_path, "s") as folder:
        start_run_dir(folder.path)
        raise KeyboardInterrupt
    assert (tmp_path / "s" / ".incomplete").exists()
