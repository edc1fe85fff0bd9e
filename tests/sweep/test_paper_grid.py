"""configs/sweep_sp500_paper_grid.toml: the paper's layers x units as [networks.NAME] cells, counted as trials."""

import json
from pathlib import Path

import pytest

from backtest.sweep.fanout import dask_client, plan_sweep, run_sweep, thread_budget
from backtest.sweep.leaderboard import write_leaderboard
from backtest.sweep.spec import load_sweep, make_cells, plan_groups
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
GRID = ROOT / "configs" / "sweep_sp500_paper_grid.toml"


def test_the_grid_builds_one_architecture_per_cell_and_keeps_the_papers_39201(tmp_path):
    cells = make_cells(load_sweep(GRID), tmp_path)
    hidden = [c.config.architectures()["paper_gru"].hidden for c in cells]
    assert hidden == [(25,), (50,), (100,), (25, 25), (50, 50), (100, 100), (25, 25, 25), (50, 50, 50),
                      (100, 100, 100)]
    paper = cells[7].config
    assert paper.forecast.layout == "flat" and paper.architectures()["paper_gru"].n_params(5) == 39_201
    assert len(plan_groups(cells)) == 9  # different shapes never share a group
    assert load_sweep(GRID).base["networks"]["paper_gru"]["hidden"] == [50, 50, 50]  # cells did not write back


@pytest.mark.skipif(not (SHARED_DATA / "GSPC_daily.csv").is_file(), reason="no ../shared/data/GSPC_daily.csv")
def test_a_tiny_slice_of_the_grid_counts_every_cells_strategies_as_trials(tmp_path):
    base = json.dumps(str(ROOT / "configs" / "sp500_paper.toml"))
    text = GRID.read_text().replace('base = "sp500_paper.toml"', f"base = {base}")
    text = text.replace('symbols = ["csv:../shared/data/GSPC_daily.csv"]',
                        f'symbols = [{json.dumps("csv:" + str(SHARED_DATA / "GSPC_daily.csv"))}]')
    grid_at = text.index("[grid]")
    path = tmp_path / "grid.toml"
    path.write_text(text[:grid_at] + """
[base.data]
start = 2016-01-01
end = 2017-03-01

[base.walkforward]
train_days = 160
val_days = 40
test_days = 60

[base.training]
epochs = 1

[base.statistics]
bootstrap_reps = 200

[grid]
"networks.paper_gru.hidden" = [[8], [8, 8]]
""")
    plan = plan_sweep(load_sweep(path), tmp_path / "out", False)
    with dask_client(None, thread_budget(1, 1)) as client:
        cells = run_sweep(plan, client, thread_budget(1, len(plan.groups)), False)
    write_leaderboard(plan.root)
    assert [c.status for c in cells] == ["done", "done"]
    state = json.loads((plan.root / "sweep.json").read_text())
    trials = sum(len(json.loads((plan.root / c.name / "metrics.json").read_text())["trading"]) - 1 for c in cells)
    assert state["statistics"]["cells"] == 2 and state["statistics"]["trials"] == trials > 2
