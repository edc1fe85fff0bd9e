"""`wfbt data show` previews a file as a run would read it, --set data.* mappings included."""

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import said, synthetic_prices

runner = CliRunner()


def _mapped(tmp_path):
    frame = synthetic_prices(60)[["close"]].rename(columns={"close": "Px"}).rename_axis("Day")
    frame.to_csv(tmp_path / "m.csv")
    return f"csv:{tmp_path / 'm.csv'}"


def test_data_show_takes_a_columns_mapping_and_says_close_only(tmp_path):
    spec = _mapped(tmp_path)
    plain = runner.invoke(app, ["data", "show", spec])
    assert plain.exit_code == 2 and "no date column. Found ['Day', 'Px']" in said(plain)
    mapped = runner.invoke(app, ["data", "show", spec, "--set", "data.columns={Day = 'date', Px = 'close'}"],
                           env={"COLUMNS": "200"})
    assert mapped.exit_code == 0, mapped.output
    assert "60 rows 2015-01-01" in said(mapped)
    assert "close-only: runs with forecast.features = ['close']" in said(mapped)
    assert f"{synthetic_prices(60)['close'].iloc[0]:.6f}"[:8] in mapped.output


def test_data_show_refuses_a_setting_outside_data(tmp_path):
    result = runner.invoke(app, ["data", "show", _mapped(tmp_path), "--set", "training.epochs=2"])
    assert result.exit_code == 2 and "takes [data] keys only" in said(result) and "Traceback" not in result.output
