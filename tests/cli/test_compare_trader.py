"""The trader's figures where a reader compares: `wfbt compare` shows turnover, profit factor, break-even and
exposure by side beside each strategy of runs that have them, and a run's HTML report says its rules."""

import json

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import run_args, synthetic_prices, write_yahoo_csv

SETS = ["forecast.models=['linear']", "strategies.rules=['forecast']", "strategies.direction='both'",
        "strategies.sizing='vol_target'", "strategies.stop_loss=0.05", "backtest.borrow=0.01"]


def test_compare_shows_the_trader_figures_and_the_report_the_rules(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "prices.csv")
    runner = CliRunner()
    for name, extra in (("ls", []), ("lo", ["strategies.direction='long'"])):
        result = runner.invoke(app, run_args(csv, tmp_path, *SETS, *extra, f"run.name='{name}'"))
        assert result.exit_code == 0, result.output
    rows = {r["strategy"]: r for r in json.loads((tmp_path / "ls" / "metrics.json").read_text())["trading"]}
    assert rows["linear:forecast"]["exposure_short"] > 0  # the long-short run's short days are counted
    page = tmp_path / "compare.html"
    result = runner.invoke(app, ["compare", str(tmp_path / "ls"), str(tmp_path / "lo"), "--html", str(page)],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for header in ("turnover/yr", "PF", "break-even", "long %", "short %"):
        assert header in result.output
    assert "break-even: the round-trip cost" in " ".join(result.output.split())
    html = page.read_text()
    assert "The figures traders read" in html and "break-even" in html and "short %" in html
    report = (tmp_path / "ls" / "report.html").read_text()
    assert "Rules: both (buy-and-hold long, all in, no stop)" in report and "shorts pay 1 % a year borrow" in report
    long_only = (tmp_path / "lo" / "report.html").read_text()
    assert "Rules: long (buy-and-hold long, all in, no stop)" in long_only and "shorts pay" not in long_only
