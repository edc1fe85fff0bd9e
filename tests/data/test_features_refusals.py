"""A chosen forecast feature the data lacks is refused where the config meets the data (data.load.check_features,
called by engine.forecasting.windows for runs and by the sweep per cell), through the real entry point."""

import numpy as np
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import TINY, run_args, said, synthetic_prices

runner = CliRunner()


# --- a chosen feature the data lacks is refused where the config meets the data -------------------------------

def _volume_csv(tmp_path, volume):
    frame = synthetic_prices(300)
    if volume is None:
        frame = frame.drop(columns="volume")
    else:
        frame["volume"] = volume(frame["volume"].to_numpy())
    out = frame.rename(columns=str.title).rename_axis("Date").reset_index()
    out.to_csv(tmp_path / "v.csv", index=False)
    return tmp_path / "v.csv"


def _holes(v):
    v = v.copy()
    v[[120, 121, 250]] = np.nan
    return v


@pytest.mark.parametrize(("volume", "message"), [
    (None, "forecast.features includes 'volume' but the data has no volume values (the column is absent or "
           """empty). Remove 'volume' from forecast.features (e.g. --set "forecast.features=['close']"), or use data """
           "that has volume (map its column with data.columns)."),
    (lambda v: np.full_like(v, np.nan), "the data has no volume values (the column is absent or empty)"),
    (_holes, "forecast.features includes 'volume' but 3 of the 300 rows the folds use have no volume, first on "
             "2015-06-18, 2015-06-19, 2015-12-17. Fill them in the source, start the range after them with "
             "data.start, or remove 'volume' from forecast.features"),
    (np.zeros_like, "the volume is 0 on every row the folds use (2015-01-01 to 2016-02-24): the source records none"),
])
def test_a_feature_the_data_lacks_is_refused_by_name(tmp_path, volume, message):
    path = _volume_csv(tmp_path, volume)
    result = runner.invoke(app, run_args(path, tmp_path / "out", "forecast.features=['close', 'volume']"),
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    text = said(result)
    assert f"error: {path}: forecast.features includes 'volume'" in text and message in text, text
    assert "bug in wfbt" not in text
    assert not (tmp_path / "out").exists()


def test_a_feature_the_data_has_runs(tmp_path):
    """The control: the same file with its volume whole runs with volume as a feature."""
    path = _volume_csv(tmp_path, lambda v: v)
    result = runner.invoke(app, run_args(path, tmp_path / "out", "forecast.features=['close', 'volume']"),
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output


def test_the_sweep_refuses_a_missing_feature_per_cell_before_training(tmp_path):
    from backtest.core.config import load_config
    from backtest.sweep.spec import Cell, load_all_prices

    path = _volume_csv(tmp_path, None)
    sets = [*TINY, "data.source='csv'", f"data.path={str(path)!r}"]
    cells = [Cell("with", "csv:v", {}, load_config(None, [*sets, "forecast.features=['close', 'volume']"])),
             Cell("without", "csv:v", {}, load_config(None, sets))]
    load_all_prices(cells)
    assert [c.status for c in cells] == ["failed", "pending"]
    assert "forecast.features includes 'volume' but the data has no volume values" in cells[0].error
