"""A universe run's training log: kept from the pooled networks, written to folds.csv, read back by `show`,
shown in the console and report.html; a folder without it (no network, or an older wfbt) still reads."""

import io

import pytest
from rich.console import Console

from backtest.engine.universe import run_universe
from backtest.report.console import render_universe, training_line
from backtest.report.publish import published_universe
from backtest.report.universe.page import universe_report_html
from backtest.runs.universe_folder import read_universe
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")
TRAINED = ("forecast.models=['lstm']", "training.epochs=3", "training.patience=1", "training.lr=0.05",
           "forecast.lookback=5", "run.threads=1")


def _run(tmp, *extra):
    path = write_long_csv(synthetic_universe(6, 280), tmp / "long.csv")
    result = run_universe(universe_config(path, *extra))
    with published_universe(result, tmp / "run"):
        pass
    return result, read_universe(tmp / "run")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("tl"), *TRAINED)


def test_the_log_has_a_row_per_fold_as_trained(trained):
    result, _ = trained
    log = result.training
    assert log["fold"].tolist() == [f.index for f in result.folds] and set(log["model"]) == {"lstm"}
    assert log["epochs"].between(1, 3).all() and (log["best_epoch"] <= log["epochs"]).all()
    assert log["stopped_early"].tolist() == (log["epochs"] < 3).tolist()
    assert {"train_start", "test_start", "test_end", "val_loss", "seconds"} <= set(log.columns)


def test_folds_csv_reads_back_and_is_shown(trained):
    result, summary = trained
    assert "folds.csv" in summary.manifest["artifacts"]
    back = summary.training
    assert back[["model", "fold", "seed", "epochs", "best_epoch", "stopped_early"]].values.tolist() == \
        result.training[["model", "fold", "seed", "epochs", "best_epoch", "stopped_early"]].values.tolist()
    assert back["val_loss"].tolist() == result.training["val_loss"].tolist()  # bit for bit
    epochs, best = (", ".join(str(v) for v in result.training[c]) for c in ("epochs", "best_epoch"))
    early = int(result.training["stopped_early"].sum())
    want = f"lstm stopped at epochs {epochs} of 3 (best {best}); {early} of {len(result.folds)} stopped early"
    assert training_line(summary) == f"Training (folds.csv): {want}"
    out = io.StringIO()
    render_universe(summary, Console(file=out, width=200, color_system=None))
    assert want in out.getvalue() and "folds.csv" in out.getvalue().splitlines()[-1]
    page = universe_report_html(summary)
    assert "<h2>Training</h2>" in page and f"lstm · fold {result.folds[0].index} (test " in page


def test_a_run_without_networks_has_no_log_and_reads(tmp_path):
    result, summary = _run(tmp_path)
    assert result.training is None and summary.training is None
    assert not (tmp_path / "run" / "folds.csv").exists() and training_line(summary) == ""
    assert "<h2>Training</h2>" not in universe_report_html(summary)


def test_several_networks_a_fold_are_summarised_by_median_and_range(trained):
    import dataclasses

    import pandas as pd

    _, summary = trained
    log = pd.DataFrame({"model": "gru", "fold": [0, 0, 0, 1], "seed": 0, "epochs": [2, 9, 4, 30],
                        "best_epoch": [1, 8, 3, 30], "stopped_early": [True, True, True, False]})
    line = training_line(dataclasses.replace(summary, training=log))
    assert line.endswith("gru's 4 networks stopped at epochs 6.5 (2 to 30) of 3 (best 5.5 (1 to 30)); "
                         "3 of 4 stopped early")
