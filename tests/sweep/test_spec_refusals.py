"""Sweep files that would escape their folder or repeat cells, and a run config given to `wfbt sweep`."""

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import said, sweep_text

runner = CliRunner()




@pytest.mark.parametrize(("text", "message"), [
    (sweep_text(name="../../evil"), "sweep.name must be a plain folder name"),
    (sweep_text(grid="'forecast.lookback' = [5, 5]"), "[grid] forecast.lookback lists a value twice. Got [5, 5]."),
    (sweep_text(grid="'training.lr' = [0.001, 0.0010]"), "[grid] training.lr lists a value twice."),
    (sweep_text(grid="'data.path' = ['a.csv']"), "[grid] data.path: the sweep's symbols choose the data"),
    (sweep_text(grid="'run.name' = ['a', 'b']"), "[grid] run.name: each cell's run folder is named by the sweep"),
])
def test_sweep_files_that_would_escape_or_repeat_cells_are_refused(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    result = runner.invoke(app, ["sweep", str(path), "--plan", "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and message in said(result), result.output
    assert not (tmp_path / "evil").exists()


def test_a_run_config_given_to_sweep_points_to_wfbt_run():
    result = runner.invoke(app, ["sweep", "configs/default.toml", "--plan"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "This looks like a run config: run it with\nwfbt run configs/default.toml\n" \
        in result.output  # the command on a line of its own
