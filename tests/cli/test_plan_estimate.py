"""`wfbt plan` says how long training would take, measured on this machine, and the estimate follows the plan."""

import re

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import TINY, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()


def _estimate(csv, *sets):
    args = ["plan", "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}"]
    for item in [*TINY, *sets]:
        args += ["--set", item]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = re.search(r"Estimated training time: about ([\d,.]+) s \(", said(result))
    assert found, result.output
    assert "scaled from one measured short epoch per architecture on this machine" in said(result)
    return float(found.group(1).replace(",", "")), said(result)


def test_plan_prints_a_positive_estimate_that_scales_with_epochs_and_models(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    short, text = _estimate(csv, "training.epochs=2")
    assert short > 0 and "1 architectures x 7 models x up to 2 epochs" in text
    long, _ = _estimate(csv, "training.epochs=40")
    assert long > 4 * short  # 20x the epochs: the measured epoch's noise is far below a factor of 5
    more, text = _estimate(csv, "training.epochs=40", "forecast.seeds=8")
    assert "x 56 models" in text and more > long  # 8x the members (measured as one group: less than 8x the time)


def test_plan_without_networks_prints_no_estimate(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    result = runner.invoke(app, ["plan", "--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}",
                                 *[a for item in TINY for a in ("--set", item)], "--set", "forecast.models=['linear']"])
    assert result.exit_code == 0 and "Estimated training time" not in result.output
