"""The command line through its real entry point, on small synthetic data."""

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app, main
from backtest.runs.folder import is_complete
from tests.conftest import SHARED_DATA, TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()


@pytest.fixture
def csv(tmp_path):
    return write_yahoo_csv(synthetic_prices(420), tmp_path / "prices.csv")


def base_args(csv, tmp_path):
    args = ["--out", str(tmp_path / "runs"), "--set", "data.source=csv", "--set", f"data.path={str(csv)!r}"]
    for item in TINY:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny run printed at 160 columns: the tests that only read a run, or copy and damage it, share it."""
    tmp = tmp_path_factory.mktemp("finished")
    csv = write_yahoo_csv(synthetic_prices(420), tmp / "prices.csv")
    result = runner.invoke(app, ["run", *base_args(csv, tmp), "--set", "run.name='t'"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    return SimpleNamespace(csv=csv, dir=tmp / "runs" / "t", output=result.output)


def test_run_writes_artifacts_and_prints_tables(finished):
    run_dir = finished.dir
    for name in ["config.toml", "manifest.json", "predictions.csv", "folds.csv", "equity.csv", "metrics.json"]:
        assert (run_dir / name).is_file(), name
    assert is_complete(run_dir)
    out = finished.output
    assert "│ naive " in out and "│ drift " in out and "│ linear " in out and "lstm" in out
    assert "buy_and_hold ★" in out and "Sharpe" in out and "DM p" in out and "SPA p = " in out
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert list(preds.columns) == ["date", "model", "fold", "predicted", "actual", "naive"]
    assert len(preds) == 3 * (420 - 160) and not preds.duplicated(["date", "model"]).any()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {r["model"] for r in metrics["forecast"]} == {"naive", "lstm", "drift", "linear"}
    assert {"spa_p", "mcs"} <= set(metrics["statistics"]["forecast"])
    assert {"spa_p", "pbo", "trials"} <= set(metrics["statistics"]["trading"])
    strategies = {r["strategy"] for r in metrics["trading"]}
    assert {"buy_and_hold", "bollinger", "macd", "lstm:forecast", "lstm:vote"} <= strategies
    equity = pd.read_csv(run_dir / "equity.csv", index_col="date")
    assert len(equity) == 420 - 160
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["complete"] and manifest["folds"] == 7 and len(manifest["data"]["fingerprint"]) == 64


def test_existing_run_is_not_overwritten(finished, tmp_path):
    """The same config again, where its finished run is, goes to name-2 and leaves the first run as it was."""
    first = Path(shutil.copytree(finished.dir, tmp_path / "runs" / "t"))
    before = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    second = runner.invoke(app, ["run", *base_args(finished.csv, tmp_path), "--quiet", "--set", "run.name='t'"])
    assert second.exit_code == 0, second.output
    assert second.output.strip().endswith("t-2") and is_complete(tmp_path / "runs" / "t-2")
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == before


def test_plan_prints_folds_without_training(csv, tmp_path):
    result = runner.invoke(app, ["plan", *base_args(csv, tmp_path)[2:]], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "7 folds x 1 architectures x 1 seed(s) = 7 models" in result.output
    assert "2015-01-01 → 2015-06-17" in result.output  # fold 0 fits on rows 0..119
    assert "2015-06-18 → 2015-08-12" in result.output  # and validates on rows 120..159


def test_models_and_strategies_list_registry():
    models = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert models.exit_code == 0 and all(n in models.output for n in ["lstm_stacked", "gru3", "39,051"])
    strategies = runner.invoke(app, ["strategies"], env={"COLUMNS": "200"})
    assert strategies.exit_code == 0 and "forecast+bollinger" in strategies.output and "vote" in strategies.output
    assert "set them in [strategies]." in strategies.output  # not eaten as rich markup


@pytest.mark.parametrize("args, message", [
    (["--set", "training.epoch=3"], "[training] has no key 'epoch'. Did you mean 'epochs'?"),
    (["--set", "forecast.models=['lsmt']"], "unknown model 'lsmt'. Did you mean 'lstm'?"),
    (["--set", "walkforward.train_days=5000"], "one fold needs more than walkforward.train_days + gap = 5000"),
    (["--set", "data.path='missing.csv'"], "data.path: file 'missing.csv' does not exist"),
])
def test_bad_input_exits_non_zero_with_message(csv, tmp_path, args, message):
    result = runner.invoke(app, ["run", *base_args(csv, tmp_path), *args], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_bad_csv_through_the_installed_script(tmp_path, monkeypatch, capsys):
    """Through `main`, the entry point of the installed script and of `python -m backtest` (called in-process: a
    fresh interpreter through `main` is tests/cli/test_errors.py's installed-script test): exit 2, message on stderr."""
    bad = synthetic_prices(300)
    bad.iloc[50, 1] = float("nan")
    path = write_yahoo_csv(bad, tmp_path / "bad.csv")
    monkeypatch.setattr(sys, "argv", ["wfbt", "run", "--set", "data.source=csv", "--set", f"data.path={str(path)!r}",
                                      "--out", str(tmp_path / "runs")])
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "missing (NaN) values in high, first on 2015-03-12" in err
    assert "Traceback" not in err


def test_show_reprints_the_same_summary(finished):
    again = runner.invoke(app, ["show", str(finished.dir)], env={"COLUMNS": "160"})
    assert again.exit_code == 0, again.output
    summary = finished.output[finished.output.index("╭"):]  # the progress bars are not part of the summary
    assert again.output == summary


def test_same_config_twice_gives_byte_identical_artifacts(csv, tmp_path):
    for name in ("a", "b"):
        result = runner.invoke(app, ["run", *base_args(csv, tmp_path), "--quiet", "--set", f"run.name={name!r}",
                                     "--set", "forecast.models=['lstm_stacked','gru']"])
        assert result.exit_code == 0, result.output
    for artifact in ["predictions.csv", "metrics.json", "equity.csv", "config.toml"]:
        a = (tmp_path / "runs" / "a" / artifact).read_bytes()
        b = (tmp_path / "runs" / "b" / artifact).read_bytes()
        if artifact == "config.toml":
            a, b = a.replace(b'"a"', b'"b"'), b  # the run name is the one intended difference
        assert a == b, artifact


@pytest.mark.parametrize("damage", ["marker", "no_manifest", "missing"])
def test_show_refuses_incomplete_or_missing_runs(finished, tmp_path, damage):
    run_dir = Path(shutil.copytree(finished.dir, tmp_path / "runs" / "x"))
    if damage == "marker":
        (run_dir / ".incomplete").write_text("")
    elif damage == "no_manifest":
        (run_dir / "manifest.json").unlink()
    else:
        run_dir = tmp_path / "runs" / "nothing"
    result = runner.invoke(app, ["show", str(run_dir)], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    expected = "does not exist" if damage == "missing" else "is incomplete: the run was interrupted"
    assert expected in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not beside the checkout")
@pytest.mark.parametrize("config, file", [("tsmc_article.toml", "2330_TW_daily.csv"),
                                          ("sp500_paper.toml", "GSPC_daily.csv")])
def test_study_configs_run_offline_on_the_shared_files(tmp_path, config, file):
    root = Path(__file__).resolve().parents[2]
    args = ["run", str(root / "configs" / config), "--quiet", "--out", str(tmp_path),
            "--set", "data.source=csv", "--set", f"data.path={str(SHARED_DATA / file)!r}",
            "--set", "training.epochs=1", "--set", "walkforward.max_folds=2"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    manifest = json.loads((Path(result.output.strip().splitlines()[-1]) / "manifest.json").read_text())
    assert manifest["folds"] == 2 and manifest["data"]["first"] >= ("2019-01-02" if "2330" in file else "1991-05-14")


def test_plan_outside_the_checkout_equals_the_default_config(tmp_path, monkeypatch):
    """`wfbt plan` with no config file, run where there is no configs/default.toml, plans the same run."""
    root = Path(__file__).resolve().parents[2]
    env = {"COLUMNS": "200"}
    monkeypatch.chdir(tmp_path)
    outside = runner.invoke(app, ["plan"], env=env)
    monkeypatch.chdir(root)
    inside = runner.invoke(app, ["plan", "configs/default.toml"], env=env)
    assert outside.exit_code == 0 and inside.exit_code == 0, outside.output + inside.output
    assert "20 folds x 5 architectures x 1 seed(s) = 100 models" in " ".join(inside.stdout.split())
    def planned(text):  # the plan without the time estimate, which is measured afresh on every call
        return text.split("Estimated training time")[0]

    assert planned(outside.stdout) == planned(inside.stdout)


def plotly_layout(page: Path, div_id: str) -> dict:
    """The layout plotly draws the ``div_id`` chart of a saved page with."""
    text = page.read_text(encoding="utf-8")
    call = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*', text)
    assert call, f"no {div_id} chart in {page}"
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(text, call.end())  # the traces
    return decoder.raw_decode(text, text.index("{", end))[0]


def test_loss_chart_ticks_are_whole_epochs_once_each(csv, tmp_path):
    result = runner.invoke(app, ["run", *base_args(csv, tmp_path), "--quiet", "--set", "run.name='l'",
                                 "--set", "training.epochs=3", "--set", "training.patience=3"])
    assert result.exit_code == 0, result.output
    axis = plotly_layout(tmp_path / "runs" / "l" / "report.html", "losses")["xaxis"]
    assert axis["title"]["text"] == "epoch"
    # whole-number steps from epoch 1: plotly's own ticks fall on halves and print "1 1 2 2" as integers
    assert (axis["tickmode"], axis["tick0"], axis["dtick"]) == ("linear", 1, 1)
