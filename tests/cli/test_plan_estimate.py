"""`wfbt plan` says how long training would take, measured on this machine, and the estimate follows the plan."""

import re

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import (
    TINY,
    UNIVERSE_TINY,
    said,
    synthetic_prices,
    synthetic_universe,
    write_long_csv,
    write_yahoo_csv,
)

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


def test_plan_of_a_universe_shows_its_folds_over_the_calendar_and_the_pooled_networks(tmp_path):
    """A universe plan (300 days: 3 folds of 40 test days and a last one of 20) counts folds x architectures
    x seeds pooled networks and estimates their time with the run's loss (bce: the probe's targets are 0/1
    labels, as the median target's)."""
    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    sets = [*UNIVERSE_TINY, "forecast.models=['lstm']", "universe.target='above_median'", "training.loss='bce'",
            "forecast.lookback=5", "training.epochs=3"]
    args = ["plan", "--set", "data.source='csv'", "--set", f"data.path={str(path)!r}"]
    for item in sets:
        args += ["--set", item]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "Walk-forward plan: 8 stocks x 300 days" in text
    assert "4 folds x 1 architectures x 1 seed(s) x 1 network(s) a fold = 4 pooled networks to train" in text
    assert "1 architectures x 4 models x up to 3 epochs" in text


def _universe_plan(path, *sets):  # type: ignore[no-untyped-def]
    args = ["plan", "--set", "data.source='csv'", "--set", f"data.path={str(path)!r}"]
    for item in [*UNIVERSE_TINY, *sets]:
        args += ["--set", item]
    return runner.invoke(app, args, env={"COLUMNS": "200"})


def test_a_universe_plan_without_networks_says_the_baselines_score_alone(tmp_path):
    result = _universe_plan(write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv"))
    assert result.exit_code == 0, result.output
    assert ("4 folds; forecast.models is empty: no network to train, the baselines naive and reversal score the "
            "stocks; out of sample: ") in said(result)
    assert "pooled linear model" not in said(result) and "Estimated training time" not in said(result)


def test_a_universe_plan_checks_the_groups_file_as_the_run_does(tmp_path):
    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    missing = _universe_plan(path, f"universe.groups={str(tmp_path / 'nope.csv')!r}")
    assert missing.exit_code == 2
    assert f"error: universe.groups: file '{tmp_path / 'nope.csv'}' does not exist." in said(missing)
    groups = tmp_path / "groups.csv"
    groups.write_text("Name,sector\n" + "".join(f"S{k},{'AB'[k % 2]}\n" for k in range(8)))
    within = _universe_plan(path, f"universe.groups={str(groups)!r}", "universe.neutral='within'", "universe.k=3",
                            "universe.min_symbols=6", "universe.books=['long_short']")  # 2 x 3 names; a group holds 4
    assert within.exit_code == 2 and 'universe.neutral = "within" picks k = 3 names a leg in each group' in said(within)
    assert _universe_plan(path, f"universe.groups={str(groups)!r}").exit_code == 0
