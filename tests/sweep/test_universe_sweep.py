"""A universe sweep through `python -m backtest sweep`: two cells of a tiny panel, ranked by their books."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backtest.core.config import load_config
from backtest.core.errors import ConfigError
from backtest.core.kinds import Kind
from backtest.engine.universe import run_universe
from backtest.sweep.fanout import plan_sweep, sweep_budget
from backtest.sweep.spec import load_sweep
from tests.conftest import synthetic_universe, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")
REPO = Path(__file__).resolve().parents[2]


def universe_sweep(tmp: Path, grid: str = '"universe.k" = [1, 2]', extra: str = "") -> Path:
    panel = write_long_csv(synthetic_universe(6, 300), tmp / "panel.csv")
    path = tmp / "u.toml"
    path.write_text(f"""
[sweep]
name = "u"
{extra}

[base.data]
source = "csv"
path = "{panel}"

[base.universe]
enabled = true
min_symbols = 4
n_drop = 1

[base.walkforward]
train_days = 160
val_days = 40
test_days = 40

[base.statistics]
bootstrap_reps = 200
pbo_blocks = 4

[grid]
{grid}
""")
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("usweep")
    path = universe_sweep(tmp)
    done = subprocess.run([sys.executable, "-m", "backtest", "sweep", str(path), "--out", str(tmp / "out")],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={"COLUMNS": "100",
                          **{k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}})
    return done, tmp / "out" / "u", path


def test_a_universe_sweep_runs_each_cell_as_its_standalone_universe_run(swept):
    done, root, path = swept
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((root / "sweep.json").read_text())
    assert [c["name"] for c in state["cells"]] == ["panel-k1", "panel-k2"]
    assert all(c["status"] == "done" for c in state["cells"])
    for k in (1, 2):
        config = load_config(None, ["data.source='csv'", f"data.path={str(path.parent / 'panel.csv')!r}",
                                    "universe.enabled=true", "universe.min_symbols=4", "universe.n_drop=1",
                                    f"universe.k={k}", "walkforward.train_days=160", "walkforward.val_days=40",
                                    "walkforward.test_days=40", "statistics.bootstrap_reps=200",
                                    "statistics.pbo_blocks=4"])
        alone = run_universe(config).equity
        cell = pd.read_csv(root / f"panel-k{k}" / "equity.csv", index_col="date", parse_dates=["date"])
        pd.testing.assert_frame_equal(cell, alone.rename_axis(index="date", columns=None),
                                      check_freq=False, rtol=1e-9)


def test_the_leaderboard_ranks_universe_cells_by_their_books(swept):
    done, root, _ = swept
    table = pd.read_csv(root / "leaderboard.csv")
    tests = json.loads((root / "sweep.json").read_text())["statistics"]
    assert sorted(zip(table["cell"], table["universe.k"], strict=True)) == [("panel-k1", 1), ("panel-k2", 2)]
    assert table["sharpe"].is_monotonic_decreasing
    books = 8  # naive and reversal x 3 ranked books, reversal:forecast and reversal:vote; equal_weight is no trial
    assert tests["cells"] == 2 and tests["trials"] == 2 * books
    assert tests["pbo_strategies"] == 2 * (books + 1) and 0.0 <= tests["pbo"] <= 1.0
    for _, row in table.iterrows():
        trading = pd.DataFrame(json.loads((root / row["cell"] / "metrics.json").read_text())["trading"])
        trading = trading.set_index("book").drop(index="equal_weight")
        assert row["best_strategy"] == trading["sharpe"].idxmax()
        assert row["sharpe"] == pytest.approx(trading["sharpe"].max())
        assert 0.0 <= row["dsr"] <= 1.0 and math.isfinite(row["equal_weight_sharpe"])
    assert "Sweep leaderboard: 2 cells" in done.stdout and "EW" in done.stdout


def test_a_universe_sweep_plans_no_shared_training_group(tmp_path):
    plan = plan_sweep(load_sweep(universe_sweep(tmp_path)), tmp_path / "out")
    assert [c.kind for c in plan.cells] == [Kind.UNIVERSE, Kind.UNIVERSE] and plan.groups == {} and plan.prices == {}
    assert sweep_budget(plan, 2).workers == 2  # the two cells are the tasks


@pytest.mark.parametrize(("grid", "extra", "message"), [
    ('"universe.enabled" = [true, false]', "", "all universes or all single symbols"),
    ('"universe.k" = [1]', 'symbols_dir = "."', "sweep.symbols_dir lists single-symbol files"),
    ('"universe.k" = [1]', 'symbols = ["yfinance:SPY"]', 'list them as "csv:path"'),
])
def test_universe_sweep_refusals_name_the_fix(tmp_path, grid, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_sweep(universe_sweep(tmp_path, grid, extra))


def test_the_universe_sweep_example_plans_two_universe_cells(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # data.path is relative to the checkout, as for `wfbt run`
    plan = plan_sweep(load_sweep(REPO / "configs" / "sweep_universe.toml"), tmp_path)
    assert [c.name for c in plan.cells] == ["sp500_5yr.csv-k5", "sp500_5yr.csv-k10"]
    assert all(c.kind is Kind.UNIVERSE and c.config.data.path == "../shared/data/sp500_5yr.csv.gz" for c in plan.cells)
    assert [c.config.universe.k for c in plan.cells] == [5, 10] and plan.groups == {}


def test_resume_keeps_finished_universe_cells(swept):
    from backtest.sweep.fanout import _finished_cell_holds

    done, root, path = swept
    plan = plan_sweep(load_sweep(path), root.parent, resume=True)
    assert [c.status for c in plan.cells] == ["skipped", "skipped"]
    (root / "panel-k1" / "equity.csv").write_text("date,x\n")  # cut off: warned, and that cell runs again
    with pytest.warns(Warning, match="panel-k1 is finished but cannot be kept"):
        assert not _finished_cell_holds(plan.cells[0])
