"""A real universe `wfbt run` killed with SIGKILL after its first chunk of folds, resumed, equals an
uninterrupted run byte for byte."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from backtest.runs.folder import is_complete
from tests.conftest import UNIVERSE_TINY, synthetic_universe, write_long_csv

# 8 stocks x 300 days, 4 folds; 6 MiB holds one fold's windows and training (4.8 MB), not two: 4 chunks.
POOLED = ["forecast.models=['lstm']", "universe.memory_gb=0.006", "training.epochs=20", "training.patience=20",
          "run.threads=1"]


def command(csv, out, name):
    args = [sys.executable, "-m", "backtest", "run", "--quiet", "--out", str(out), "--set", f"run.name={name!r}",
            "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}"]
    for item in [*UNIVERSE_TINY, *POOLED]:
        args += ["--set", item]
    return args


def test_sigkill_after_the_first_chunk_then_resume_equals_uninterrupted(tmp_path):
    csv = write_long_csv(synthetic_universe(8, 300), tmp_path / "u.csv")
    out = tmp_path / "runs"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command(csv, out, "killed"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_chunk = out / "killed" / "partial" / "chunk-000.chunk.json"  # written last: the chunk is saved whole
    deadline = time.time() + 300
    while not first_chunk.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert first_chunk.exists(), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not is_complete(out / "killed")
    assert not (out / "killed" / "partial" / "chunk-003.chunk.json").exists()  # killed before the last chunk

    resumed = subprocess.run(command(csv, out, "killed") + ["--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().endswith("killed")  # the same folder, not killed-2
    assert "resuming" in resumed.stderr and "CheckpointWarning" not in resumed.stderr
    full = subprocess.run(command(csv, out, "full"), env=env, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr

    for artifact in ["scores.csv.gz", "metrics.json", "equity.csv", "equity_gross.csv", "ic.csv", "turnover.csv"]:
        assert (out / "killed" / artifact).read_bytes() == (out / "full" / artifact).read_bytes(), artifact
    assert is_complete(out / "killed") and not (out / "killed" / "partial").exists()
    # the training log of the chunk loaded on resume is the one it was trained with (only the seconds differ)
    logs = [pd.read_csv(out / run / "folds.csv").drop(columns="seconds") for run in ("killed", "full")]
    assert logs[0]["fold"].tolist() == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(logs[0], logs[1], check_exact=True)
    scores = pd.read_csv(out / "full" / "scores.csv.gz")
    assert scores["lstm"].notna().sum() == scores["linear"].notna().sum() > 0  # the network scored every window
