"""A real `wfbt run` killed with SIGKILL mid-training, resumed, equals an uninterrupted run."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.engine.schedule import Fold
from backtest.runs.folder import is_complete
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

MODELS = "forecast.models=['gru','lstm_stacked','gru_stacked']"


def command(csv, out, name):
    args = [sys.executable, "-m", "backtest", "run", "--quiet", "--out", str(out), "--set", f"run.name={name!r}",
            "--set", "data.source=csv", "--set", f"data.path={str(csv)!r}", "--set", MODELS,
            "--set", "training.epochs=6", "--set", "training.patience=6"]
    for item in TINY:
        if not item.startswith(("forecast.models", "training.epochs", "training.patience")):
            args += ["--set", item]
    return args


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    out = tmp_path / "runs"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command(csv, out, "killed"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_group = out / "killed" / "partial" / "gru.done.json"  # written last: the group is saved whole
    deadline = time.time() + 120
    while not first_group.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert first_group.exists(), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not is_complete(out / "killed")
    saved = pd.read_csv(out / "killed" / "partial" / "gru.folds.csv")
    assert not (out / "killed" / "partial" / "gru_stacked.folds.csv").exists()

    resumed = subprocess.run(command(csv, out, "killed") + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().endswith("killed")  # the same folder, not killed-2
    said = re.search(r"resuming (\S+): loading (.+) from the interrupted run's checkpoint; training (.+)\.",
                     " ".join(resumed.stderr.split()))
    assert said and said.group(1) == str(out / "killed"), resumed.stderr
    loaded = said.group(2).split(", ")
    assert loaded[0] == "gru" and "gru_stacked" not in loaded and said.group(3).endswith("gru_stacked")
    manifest = json.loads((out / "killed" / "manifest.json").read_text())
    assert manifest["resumed"] is True and sorted(manifest["loaded_from_checkpoint"]) == sorted(loaded)
    full = subprocess.run(command(csv, out, "full"), env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    assert "resuming" not in full.stderr
    assert json.loads((out / "full" / "manifest.json").read_text())["resumed"] is False

    for artifact in ["predictions.csv", "metrics.json", "equity.csv"]:
        assert (out / "killed" / artifact).read_bytes() == (out / "full" / artifact).read_bytes(), artifact
    folds = pd.read_csv(out / "killed" / "folds.csv")
    # the finished group was loaded, not trained again: its recorded seconds are the killed run's
    assert folds[folds.model == "gru"]["seconds"].tolist() == saved["seconds"].tolist()
    assert is_complete(out / "killed") and not (out / "killed" / "partial").exists()


def test_resume_refuses_a_changed_config(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    out = tmp_path / "runs"
    runner = CliRunner()
    base = command(csv, out, "r")[3:]  # drop `python -m backtest`
    first = runner.invoke(app, base)
    assert first.exit_code == 0, first.output
    (out / "r" / ".incomplete").write_text("")  # as if it had died before finishing
    (out / "r" / "partial").mkdir(exist_ok=True)
    (out / "r" / "partial" / "state.json").write_text(
        '{"config": {"training.epochs": 5}, "data_fingerprint": "x"}')
    result = runner.invoke(app, [*base, "--resume", "--set", "training.epochs=7"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "cannot resume" in text and "training.epochs: 5 -> 7" in text and "price data" in text


@pytest.mark.parametrize("flag", ["--force", None])
def test_force_reuses_the_folder_and_default_picks_a_new_one(tmp_path, flag):
    csv = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
    args = command(csv, tmp_path / "runs", "f")[3:]
    args = [a.replace("gru','lstm_stacked','gru_stacked", "gru") for a in args]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    second = runner.invoke(app, args + ([flag] if flag else []))
    assert second.exit_code == 0, second.output
    assert second.output.strip().endswith("f" if flag else "f-2")


def test_ctrl_c_stops_with_a_resume_hint_and_non_zero_exit(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    out = tmp_path / "runs"
    # A shell's background job (`pytest ... &`) starts with SIGINT ignored, and Python keeps an inherited
    # SIG_IGN instead of raising KeyboardInterrupt: give the run the default, as a terminal's Ctrl-C has it.
    proc = subprocess.Popen(command(csv, out, "c"), env={**os.environ, "COLUMNS": "300"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    first_group = out / "c" / "partial" / "gru.done.json"
    deadline = time.time() + 120
    while not first_group.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert first_group.exists(), "the run ended or stalled before its first group was saved"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    text = " ".join(stderr.split())
    assert "interrupted:" in text and "Saved: gru" in text and "--resume" in text
    assert not is_complete(out / "c")


# --- a damaged checkpoint is never used: set aside with a warning naming the file, and trained again ----------

def _args(csv, out, *sets):
    args = command(csv, out, "d")[3:]  # drop `python -m backtest`
    args = [a.replace("gru','lstm_stacked','gru_stacked", "gru','lstm") for a in args]
    for item in sets:
        args += ["--set", item]
    return args


def _interrupt(csv, out, monkeypatch, *sets):
    """`wfbt run` stopped (Ctrl-C) as lstm starts training: gru's group is saved in partial/, lstm's is not."""
    from backtest.engine import pipeline

    real = pipeline.train_networks

    def stop_at_lstm(model, *args, **kwargs):
        if model == "lstm":
            raise KeyboardInterrupt
        return real(model, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(pipeline, "train_networks", stop_at_lstm)
        result = CliRunner().invoke(app, _args(csv, out, *sets), env={"COLUMNS": "300"})
    assert result.exit_code == 130, result.output
    partial = out / "d" / "partial"
    assert (partial / "gru.done.json").is_file() and not (partial / "lstm.folds.csv").exists()
    return partial


def _cut_bytes(partial, other):
    path = partial / "gru.predictions.csv"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "gru.predictions.csv has", "rows but the checkpoint saved"


def _cut_lines(partial, other):
    path = partial / "gru.predictions.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))  # whole lines: a file that still parses
    return "gru.predictions.csv has", "rows but the checkpoint saved"


def _fold_missing(partial, other):
    """A group saved, digest and all, without its last fold (as a buggy writer could): the folds must prove it."""
    from backtest.runs.checkpoint import Checkpoint

    checkpoint = Checkpoint(partial.parent)
    preds, log = checkpoint.load("gru")
    folds = log["fold"].tolist()
    assert folds == [0, 1, 2, 3]
    checkpoint.save("gru", preds[preds.fold != 3], log[log.fold != 3])
    return "the fold log has folds [0, 1, 2] but the run has [0, 1, 2, 3]", ""


def _foreign_file(partial, other):
    """gru.predictions.csv of another run (another seed), copied over this run's."""
    (partial / "gru.predictions.csv").write_bytes((other / "gru.predictions.csv").read_bytes())
    return "gru.predictions.csv is not the file the checkpoint saved", "SHA-256 differs"


def _foreign_group(partial, other):
    """Another run's whole saved group, done.json included: it names another state.json."""
    for name in ["gru.predictions.csv", "gru.folds.csv", "gru.done.json"]:
        (partial / name).write_bytes((other / name).read_bytes())
    return "gru.done.json belongs to another run", ""


def _no_proof(partial, other):
    """Stopped after both files but before done.json (or saved by a wfbt before done.json)."""
    (partial / "gru.done.json").unlink()
    return "gru.done.json is missing", ""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full")
    csv = write_yahoo_csv(synthetic_prices(300), tmp / "p.csv")
    result = CliRunner().invoke(app, _args(csv, tmp / "runs"))
    assert result.exit_code == 0, result.output
    return csv, tmp / "runs" / "d"


@pytest.fixture(scope="module")
def interrupted(uninterrupted, tmp_path_factory):
    """One interrupted run (copied per case: each damages its own copy) and the partial/ of another seed's."""
    csv, _ = uninterrupted
    tmp = tmp_path_factory.mktemp("interrupted")
    with pytest.MonkeyPatch.context() as m:
        _interrupt(csv, tmp / "this", m)
        other = _interrupt(csv, tmp / "other", m, "run.seed=7")
    return tmp / "this", other


def _copy_interrupted(interrupted, tmp_path):
    """This case's own copy of the shared interrupted run: its runs folder and its partial/."""
    out = Path(shutil.copytree(interrupted[0], tmp_path / "runs"))
    return out, out / "d" / "partial"


@pytest.mark.parametrize("damage", [_cut_bytes, _cut_lines, _fold_missing, _foreign_file, _foreign_group, _no_proof])
def test_a_damaged_checkpoint_is_retrained_not_used(uninterrupted, interrupted, tmp_path, damage):
    csv, full = uninterrupted
    out, partial = _copy_interrupted(interrupted, tmp_path)
    reason, detail = damage(partial, interrupted[1])
    result = CliRunner().invoke(app, [*_args(csv, out), "--resume"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"warning: the saved gru group in {partial} is not usable: {reason}" in text, text
    assert detail in text and "gru is trained again." in text
    manifest = json.loads((out / "d" / "manifest.json").read_text())
    assert manifest["resumed"] is True and manifest["loaded_from_checkpoint"] == []
    for artifact in ["predictions.csv", "equity.csv"]:  # as if never interrupted: every fold, the same bits
        assert (out / "d" / artifact).read_bytes() == (full / artifact).read_bytes(), artifact


def test_an_intact_checkpoint_is_loaded(uninterrupted, interrupted, tmp_path):
    """The control for the damaged cases: the same interruption, untouched, is loaded and gives the same run."""
    csv, full = uninterrupted
    out, _ = _copy_interrupted(interrupted, tmp_path)
    result = CliRunner().invoke(app, [*_args(csv, out), "--resume"], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert "loading gru from the interrupted run's checkpoint; training lstm" in " ".join(result.output.split())
    assert json.loads((out / "d" / "manifest.json").read_text())["loaded_from_checkpoint"] == ["gru"]
    for artifact in ["predictions.csv", "equity.csv"]:
        assert (out / "d" / artifact).read_bytes() == (full / artifact).read_bytes(), artifact


# --- the proof against other damage, on the Checkpoint itself (no training): each is refused, naming why -------

PROOF_FOLDS = [Fold(0, 0, 5, 8, 8, 10), Fold(1, 2, 7, 10, 10, 12)]  # test days 8-9 and 10-11


def _group(model):
    preds = pd.DataFrame({"model": model, "fold": [0, 0, 1, 1], "pos": [8, 9, 10, 11], "predicted": [1.0, 2, 3, 4]})
    return preds, pd.DataFrame({"model": model, "fold": [0, 1], "seconds": [0.1, 0.2]})


def _truncated_done(d):
    (d / "gru.done.json").write_bytes((d / "gru.done.json").read_bytes()[:40])


def _done_of_another_model(d):
    shutil.copy(d / "lstm.done.json", d / "gru.done.json")


def _group_of_another_model(d):
    for end in (".predictions.csv", ".folds.csv", ".done.json"):
        shutil.copy(d / f"lstm{end}", d / f"gru{end}")


def _folds_edited(d):
    (d / "gru.folds.csv").write_text((d / "gru.folds.csv").read_text().replace("0.2", "0.3"))


@pytest.mark.parametrize(("damage", "reason"), [
    (_truncated_done, "gru.done.json is damaged (not the JSON wfbt writes)"),
    (_done_of_another_model, "gru.predictions.csv is not the file the checkpoint saved"),
    (_group_of_another_model, "its files hold rows of another model than gru"),
    (_folds_edited, "gru.folds.csv is not the file the checkpoint saved"),
])
def test_a_checkpoint_damaged_otherwise_does_not_prove_itself(tmp_path, damage, reason):
    from backtest.core.errors import DamagedCheckpoint
    from backtest.runs.checkpoint import Checkpoint

    checkpoint = Checkpoint(tmp_path / "r")
    checkpoint.begin({"run": {"seed": 1}}, "fingerprint", False, folds=PROOF_FOLDS)
    for model in ("gru", "lstm"):
        checkpoint.save(model, *_group(model))
    damage(checkpoint.dir)
    with pytest.raises(DamagedCheckpoint, match=re.escape(reason)):
        checkpoint.load("gru", folds=PROOF_FOLDS)
    checkpoint.load("lstm", folds=PROOF_FOLDS)  # the intact group beside it still loads
