"""Sweeps that cannot end well: every cell failing, an existing folder (refused before a cluster starts)."""

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import said, sweep_text

runner = CliRunner()


def test_a_sweep_whose_every_cell_fails_is_an_error_with_no_leaderboard(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(name="allbad", symbols='["sample:nosuch"]', grid="'forecast.lookback' = [5]"))
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "every cell of sweep allbad failed (above): there is nothing to rank" in said(result)
    assert not (tmp_path / "o" / "allbad" / "leaderboard.csv").exists()


def test_a_sweep_into_an_existing_folder_is_refused_before_a_cluster_starts(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(name="again", grid="'forecast.lookback' = [5]"))
    (tmp_path / "o" / "again").mkdir(parents=True)
    result = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "exists. Continue it with --resume" in said(result)
    assert "Dask dashboard" not in result.output
