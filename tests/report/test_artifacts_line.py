"""The console's "Artifacts in" line names the files the run folder holds, not a fixed list."""

from backtest.report.console import SINGLE_ARTIFACTS, UNIVERSE_ARTIFACTS, artifacts_line


def test_an_older_universe_folder_is_not_said_to_hold_the_files_added_since(tmp_path):
    for name in ("report.html", "config.toml", "manifest.json", "scores.csv.gz", "equity.csv", "ic.csv",
                 "turnover.csv", "symbols.csv", "metrics.json"):
        (tmp_path / name).write_text("x")
    line = artifacts_line(tmp_path, UNIVERSE_ARTIFACTS)
    assert line == (f"Artifacts in {tmp_path}/: report.html config.toml manifest.json scores.csv.gz equity.csv "
                    "ic.csv turnover.csv symbols.csv metrics.json")
    (tmp_path / "folds.csv").write_text("x")
    (tmp_path / "equity_gross.csv").write_text("x")
    assert "equity.csv equity_gross.csv ic.csv" in artifacts_line(tmp_path, UNIVERSE_ARTIFACTS)
    assert artifacts_line(tmp_path, UNIVERSE_ARTIFACTS).endswith("metrics.json folds.csv")


def test_a_single_symbol_folder_names_what_it_holds(tmp_path):
    for name in SINGLE_ARTIFACTS[:-1]:  # no insample.csv.gz
        (tmp_path / name).write_text("x")
    line = artifacts_line(tmp_path, SINGLE_ARTIFACTS)
    assert line.endswith("orders.csv metrics.json") and "insample" not in line


def test_the_files_a_run_writes_after_its_summary_are_named_before_they_exist(tmp_path):
    """A run prints the line before report.html and manifest.json are written: those are always named."""
    line = artifacts_line(tmp_path, UNIVERSE_ARTIFACTS)
    assert line.startswith(f"Artifacts in {tmp_path}/: report.html config.toml manifest.json scores.csv.gz")
    assert "equity_gross.csv" not in line and "folds.csv" not in line
