"""`wfbt sweep` on a real Dask LocalCluster: cells equal standalone runs, reruns are byte-identical, a failing
cell does not stop the rest, a killed driver resumes, the thread budget holds, bad input gets a message."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.errors import ConfigError, RunDirError
from backtest.engine.pipeline import run
from backtest.sweep.fanout import SweepProgress, dask_client, plan_sweep, run_sweep, thread_budget
from backtest.sweep.leaderboard import write_leaderboard
from backtest.sweep.spec import load_sweep
from tests.conftest import SHARED_DATA

runner = CliRunner()
ARTIFACTS = ["predictions.csv", "metrics.json", "equity.csv"]  # folds.csv holds timings


def sweep_file(tmp: Path, symbols: list[str], name: str = "s", lookbacks=(5, 10)) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(f"""
[sweep]
name = "{name}"
symbols = {json.dumps(symbols)}

[base.data]
start = "2016-01-01"
end = "2017-03-01"

[base.walkforward]
train_days = 160
val_days = 40
test_days = 60

[base.forecast]
models = ["gru", "linear"]

[base.training]
epochs = 2
patience = 2

[base.statistics]
bootstrap_reps = 200

[grid]
"forecast.lookback" = {list(lookbacks)}
""")
    return path


SYMBOLS = [f"csv:{SHARED_DATA / 'AAPL_daily.csv'}", f"csv:{SHARED_DATA / 'MSFT_daily.csv'}"]


@pytest.fixture(scope="module")
def client():
    plan_budget = thread_budget(2, 2)
    with dask_client(None, plan_budget) as c:
        yield c


def sweep(client, path: Path, out: Path, resume: bool = False):
    plan = plan_sweep(load_sweep(path), out, resume)
    cells = run_sweep(plan, client, thread_budget(2, len(plan.groups)), resume)
    write_leaderboard(plan.root)
    return plan.root, cells


@pytest.fixture(scope="module")
def first(client, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    return sweep(client, sweep_file(tmp, SYMBOLS), tmp / "a"), tmp


def test_cells_equal_their_standalone_runs(first):
    (root, cells), _ = first
    assert [c.status for c in cells] == ["done"] * 4
    for cell in cells[::3]:
        alone = run(cell.config)
        swept = pd.read_csv(root / cell.name / "predictions.csv")
        assert np.allclose(swept["predicted"], alone.predictions["predicted"], rtol=1e-5, atol=0)
        folds = pd.read_csv(root / cell.name / "folds.csv")
        assert folds[["epochs", "best_epoch"]].equals(alone.fold_log[["epochs", "best_epoch"]])


def test_a_rerun_is_byte_identical_and_the_leaderboard_counts_every_trial(first):
    """The rerun's bytes are checked by test_resume_after_the_driver_dies: its sweep ran every cell again (three
    on resume, one before the driver died) and must equal this first sweep file for file, leaderboard included.
    Here: the first sweep's leaderboard counts every trial."""
    (root, cells), _ = first
    state = json.loads((root / "sweep.json").read_text())
    trials = sum(len(json.loads((root / c.name / "metrics.json").read_text())["trading"]) - 1 for c in cells)
    assert state["complete"] and state["statistics"]["trials"] == trials and state["statistics"]["cells"] == 4
    table = pd.read_csv(root / "leaderboard.csv")
    assert list(table["sharpe"]) == sorted(table["sharpe"], reverse=True) and {"dsr", "theil_u:gru"} <= set(table)
    assert (root / "leaderboard.html").stat().st_size > 100_000  # plotly inlined


def _worker_settings():
    import os

    import dask
    return dask.config.get("distributed.worker.profile.enabled"), os.environ.get("WFBT_SWEEP_WORKER")


def test_workers_run_without_the_profiler_and_with_openmps_default_waits(client):
    """Dask's profiler holds the GIL every 10 ms and passive waits slow a multi-thread worker (performance.md)."""
    assert client.submit(_worker_settings, pure=False).result() == (False, "1")


def test_the_local_cluster_listens_on_loopback_only(client):
    """Scheduler, workers and dashboard of the cluster wfbt starts are this machine's, not the network's."""
    info = client.scheduler_info()
    addresses = [client.scheduler.address, *info["workers"]]
    assert addresses and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    assert client.dashboard_link.startswith("http://127.0.0.1:"), client.dashboard_link


def test_a_failing_cell_does_not_stop_the_others(client, tmp_path):
    path = sweep_file(tmp_path, [SYMBOLS[0], f"csv:{tmp_path / 'missing.csv'}"], lookbacks=(5,))
    root, cells = sweep(client, path, tmp_path / "out")
    assert [c.status for c in cells] == ["done", "failed"]
    assert "missing.csv" in cells[1].error and "does not exist" in cells[1].error
    assert len(pd.read_csv(root / "leaderboard.csv")) == 1


def test_workers_respect_the_thread_budget(client):
    assert thread_budget(2, 5) == thread_budget(2, 2) and thread_budget(2, 5).workers == 2
    assert (thread_budget(16, 3).workers, thread_budget(16, 3).threads) == (3, 5)
    assert (thread_budget(2, 1).workers, thread_budget(2, 1).threads) == (1, 2)
    assert (thread_budget(8, 9, gpus=2).workers, thread_budget(8, 9, gpus=2).threads) == (2, 4)
    for cores in (1, 2, 3, 7, 64):
        for groups in (1, 2, 5, 100):
            budget = thread_budget(cores, groups)
            assert 1 <= budget.workers <= groups and budget.workers * budget.threads <= cores
    threads = client.run(lambda: os.environ["OMP_NUM_THREADS"])
    assert len(threads) == 2 and set(threads.values()) == {"1"}


class DriverDies(SweepProgress):
    """Stops the driver the moment its first cell is written, as kill -9 would (every write is atomic)."""

    def cell_done(self, cell):
        raise SystemExit(f"killed after {cell.name}")


def test_resume_after_the_driver_dies(client, first, tmp_path):
    """Also the rerun check: every cell of the resumed sweep was run again, and each equals the first sweep's."""
    (root, cells), _ = first
    path = sweep_file(tmp_path, SYMBOLS, name="s")
    plan = plan_sweep(load_sweep(path), tmp_path / "k")
    with pytest.raises(SystemExit, match="killed after"):
        run_sweep(plan, client, thread_budget(2, len(plan.groups)), progress=DriverDies())
    state = json.loads((tmp_path / "k" / "s" / "sweep.json").read_text())
    assert not state["complete"] and [c["status"] for c in state["cells"]].count("pending") == 4
    with pytest.raises(RunDirError, match="exists. Continue it with --resume"):
        sweep(client, path, tmp_path / "k")
    resumed, after = sweep(client, path, tmp_path / "k", resume=True)
    assert sorted(c.status for c in after) == ["done", "done", "done", "skipped"]
    for cell in cells:
        for name in ARTIFACTS:
            assert (root / cell.name / name).read_bytes() == (resumed / cell.name / name).read_bytes(), name
    assert (root / "leaderboard.csv").read_bytes() == (resumed / "leaderboard.csv").read_bytes()


def _copy_of_first(first, tmp_path):
    import shutil

    (root, cells), _ = first
    shutil.copytree(root, tmp_path / "c" / "s")
    return tmp_path / "c" / "s", cells


def test_resume_runs_again_a_finished_cell_whose_files_were_damaged(first, tmp_path):
    from backtest.core.errors import CheckpointWarning

    root, cells = _copy_of_first(first, tmp_path)
    equity = root / cells[1].name / "equity.csv"
    equity.write_bytes(equity.read_bytes()[: equity.stat().st_size // 2])
    with pytest.warns(CheckpointWarning, match=rf"sweep cell {cells[1].name} is finished but cannot be kept "
                                               r"\(run folder .* is damaged: equity.csv has \d+ rows but the run "
                                               r"wrote \d+.*\); it is run again"):
        plan = plan_sweep(load_sweep(sweep_file(tmp_path, SYMBOLS)), tmp_path / "c", resume=True)
    assert [c.status for c in plan.cells] == ["skipped", "pending", "skipped", "skipped"]


def test_resume_refuses_finished_cells_made_with_other_settings(first, tmp_path):
    _copy_of_first(first, tmp_path)
    path = sweep_file(tmp_path, SYMBOLS)
    path.write_text(path.read_text().replace("epochs = 2", "epochs = 3"))
    with pytest.raises(RunDirError, match=r"cannot resume the sweep: cell .* finished with other settings "
                                          r"\(training.epochs: 2 -> 3\)\. Resume with the original sweep file"):
        plan_sweep(load_sweep(path), tmp_path / "c", resume=True)


def test_plan_and_show_through_the_entry_point(first, tmp_path):
    (root, _), tmp = first
    plan = runner.invoke(app, ["sweep", str(sweep_file(tmp_path, SYMBOLS)), "--plan", "--out", str(tmp_path / "p")],
                         env={"COLUMNS": "120"})
    assert plan.exit_code == 0, plan.output
    assert "Sweep s: 4 cells, 2 training groups, 12 models; 2 worker(s) x 1 thread(s)" in plan.output
    assert "gru L10 F4" in plan.output
    assert not (tmp_path / "p").exists()  # --plan writes nothing
    shown = runner.invoke(app, ["show", str(root)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert "Sweep leaderboard: 4 cells" in shown.output and "deflated Sharpe" in shown.output
    assert "…" not in shown.output


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    path = sweep_file(tmp_path, SYMBOLS[:1], lookbacks=(5,))
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o"), "--scheduler",
                                 "tcp://127.0.0.1:9"], env={"WFBT_DASK_TIMEOUT": "2"})
    assert result.exit_code == 3
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("text", "message"), [
    ('[sweep]\nsymbol = ["csv:a.csv"]\n', r"\[sweep\] has no key\(s\) \['symbol'\]"),
    ('[sweep]\nsymbols = ["ftp:a"]\n', r"expected SOURCE:SYMBOL .* Got 'ftp:a'"),
    ('[sweep]\nsymbols = []\n', r"the sweep has no symbols"),
    ('[sweep]\nsymbols = ["sample:sp500"]\n[grid]\n"forecast.lookback" = 5\n', r"expected a non-empty list"),
    ('[sweep]\nsymbols = ["sample:sp500"]\n[grid]\nlookback = [5]\n', r"expected \"section.key\""),
])
def test_bad_sweep_files_are_refused_by_name(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


def test_a_bad_grid_value_names_its_cell(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[sweep]\nname = "b"\nsymbols = ["sample:sp500"]\n[grid]\n"forecast.lookback" = [5, -1]\n')
    with pytest.raises(ConfigError, match=r"sweep cell sp500-lookback-1: forecast.lookback must be positive"):
        plan_sweep(load_sweep(path), tmp_path)


def test_the_leaderboard_at_80_columns_keeps_what_judges_a_cell_and_says_what_it_counts(first):
    """Best strategy, buy-and-hold and best network survive 80 columns; the PBO's count says why it is more
    than the DSR's; the page draws each symbol's buy-and-hold once, however many cells it has."""
    import re

    (root, cells), _ = first
    shown = runner.invoke(app, ["show", str(root)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    header = next(line for line in shown.output.splitlines() if line.startswith("┃"))
    assert {"cell", "best strategy", "Sharpe", "B&H", "best net"} <= {c.strip() for c in header.split("┃")}
    state = json.loads((root / "sweep.json").read_text())["statistics"]
    text = " ".join(shown.output.split())
    assert f"counting all {state['trials']} strategies of 4 cells as trials" in text
    assert (f"({state['trials'] + 4} strategies: the {state['trials']} trials and 4 buy-and-hold, "
            f"{state['pbo_days']} shared days)") in text
    page = (root / "leaderboard.html").read_text()
    benches = re.findall(r'"name":"([^"]*:buy_and_hold)"', page)
    assert sorted(benches) == ["AAPL_daily:buy_and_hold", "MSFT_daily:buy_and_hold"]
