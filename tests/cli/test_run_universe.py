"""`wfbt run` of a universe: a long file, a wide close-only file and a folder of per-symbol files."""

import gzip
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.runs.folder import is_complete
from tests.conftest import UNIVERSE_TINY, said, synthetic_universe, write_folder, write_long_csv, write_wide_csv

runner = CliRunner()
BOOKS = [f"{s}:{b}" for s in ("naive", "reversal") for b in ("long_short", "long_only", "topk_dropout")]
BOOKS += ["reversal:forecast", "reversal:vote"]  # the rule books of strategies.rules' universe default


@pytest.fixture(scope="module")
def frames():
    return synthetic_universe(8, 300)


def universe_args(path, out, *sets):
    args = ["run", "--out", str(out), "--set", "data.source='csv'", "--set", f"data.path={str(path)!r}"]
    for item in [*UNIVERSE_TINY, *sets]:
        args += ["--set", item]
    return args


def check_run_folder(run_dir, fills):
    """A complete universe run folder whose files pandas reads in one line each."""
    assert is_complete(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["kind"] == "universe" and manifest["fills"] == fills and manifest["data"]["symbols"] == 8
    assert manifest["out_of_sample"] == {"first": "2015-08-13", "last": "2016-02-24", "days": 140}
    scores = pd.read_csv(run_dir / "scores.csv.gz")
    assert list(scores.columns) == ["date", "symbol", "naive", "reversal"] and len(scores) == 140 * 8
    equity = pd.read_csv(run_dir / "equity.csv", index_col="date")
    assert list(equity.columns) == [*BOOKS, "equal_weight"] and len(equity) == 140
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [r["scorer"] for r in metrics["ic"]] == ["naive", "reversal"]
    assert [r["book"] for r in metrics["trading"]] == [*BOOKS, "equal_weight"]
    assert {"spa_p", "pbo", "trials"} <= set(metrics["statistics"]["trading"])
    assert metrics["data"]["symbols kept"] == 8 and metrics["survivorship"].startswith("Every one of the 8")
    assert "[universe]" in (run_dir / "config.toml").read_text()
    assert gzip.decompress((run_dir / "scores.csv.gz").read_bytes()).startswith(b"date,symbol,naive,reversal\n")
    ic = pd.read_csv(run_dir / "ic.csv", index_col="date")
    kinds = ("ic", "rank_ic", "spread", *[f"q{q}" for q in range(1, 11)])  # the deciles: NaN with 8 stocks
    assert list(ic.columns) == [f"{s}:{k}" for s in ("naive", "reversal") for k in kinds]
    gross = pd.read_csv(run_dir / "equity_gross.csv", index_col="date")
    assert list(gross.columns) == list(equity.columns) and len(gross) == 140
    assert "equity_gross.csv" in manifest["artifacts"]
    turnover = pd.read_csv(run_dir / "turnover.csv", index_col="date")
    assert list(turnover.columns) == [*BOOKS, "equal_weight"] and len(turnover) == 140
    assert (run_dir / "report.html").is_file() and "report.html" in manifest["artifacts"]


@pytest.fixture(scope="module")
def long_run(frames, tmp_path_factory):
    """One finished run of a long file, printed at 80 columns: the tests that read it or copy it share it."""
    tmp = tmp_path_factory.mktemp("long")
    path = write_long_csv(frames, tmp / "long.csv")
    result = runner.invoke(app, universe_args(path, tmp / "runs", "run.name='long'"), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return SimpleNamespace(path=path, dir=tmp / "runs" / "long", output=result.output)


def test_a_long_file_runs_end_to_end(long_run):
    check_run_folder(long_run.dir, "next open")
    out = long_run.output
    assert "Scores across the cross-section" in out and "│ reversal │" in out and "survivorship bias" in out
    assert "reversal:topk_dropout" in out and "equal_weight" in out and "SPA p = " in out


def test_a_wide_close_only_file_fills_at_the_next_close(frames, tmp_path):
    path = write_wide_csv(frames, tmp_path / "wide.csv")
    result = runner.invoke(app, [*universe_args(path, tmp_path / "runs", "run.name='wide'"), "--quiet"])
    assert result.exit_code == 0, result.output
    check_run_folder(tmp_path / "runs" / "wide", "next close")


def test_a_folder_of_per_symbol_files_runs_end_to_end(frames, tmp_path):
    folder = write_folder(frames, tmp_path / "stocks")
    args = universe_args(folder, tmp_path / "runs", "run.name='folder'", "universe.layout='folder'")
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    check_run_folder(tmp_path / "runs" / "folder", "next open")


def test_folder_layout_on_a_file_is_refused_without_leaving_a_folder(frames, tmp_path):
    path = write_long_csv(frames, tmp_path / "long.csv")
    args = universe_args(path, tmp_path / "runs", "run.name='bad'", "universe.layout='folder'")
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert 'universe.layout = "folder" needs data.path to be a folder' in said(result)
    assert not (tmp_path / "runs" / "bad").exists()


def test_a_finished_universe_run_is_not_overwritten(long_run, tmp_path):
    """The same command where its finished run is (a copy of the shared one) goes to long-2; the first is untouched."""
    first = Path(shutil.copytree(long_run.dir, tmp_path / "runs" / "long"))
    before = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    second = runner.invoke(app, [*universe_args(long_run.path, tmp_path / "runs", "run.name='long'"), "--quiet"])
    assert second.exit_code == 0 and second.output.strip().endswith("long-2"), second.output
    assert is_complete(first) and is_complete(tmp_path / "runs" / "long-2")
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == before


def test_pooled_networks_run_beside_the_baselines(frames, tmp_path):
    """forecast.models trains one pooled lstm per fold across every stock (engine.pooled) and scores the pooled
    linear model with it: their panels are traded, tested and saved like the baselines'."""
    path = write_long_csv(frames, tmp_path / "long.csv")
    sets = ["run.name='pooled'", "forecast.models=['lstm']", "universe.books=['long_short']",
            "forecast.lookback=5", "training.epochs=2", "training.patience=2"]
    result = runner.invoke(app, universe_args(path, tmp_path / "runs", *sets), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "pooled"
    scores = pd.read_csv(run_dir / "scores.csv.gz")
    assert list(scores.columns) == ["date", "symbol", "naive", "reversal", "lstm", "linear"]
    assert scores["lstm"].notna().mean() > 0.9 and scores["lstm"].std() > 0  # a forecast, not a constant
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [r["scorer"] for r in metrics["ic"]] == ["naive", "reversal", "lstm", "linear"]
    assert "lstm:long_short" in [r["book"] for r in metrics["trading"]]


def test_an_unknown_pooled_model_is_refused_by_name(frames, tmp_path):
    path = write_long_csv(frames, tmp_path / "long.csv")
    result = runner.invoke(app, universe_args(path, tmp_path / "runs", "forecast.models=['lstn']"),
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "forecast.models: unknown model 'lstn'. Did you mean 'lstm'?" in said(result)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("sets", "message"), [
    (["universe.symbol_column='Tick'"], "symbol_column 'Tick' is not a column; the file has ['Date', 'Open', 'High', "
     "'Low', 'Close', 'Volume', 'Name']. Set universe.symbol_column to the header"),
    (["universe.min_symbols=50"], "only 8 of 8 symbol(s) passed the checks, fewer than min_symbols = 50. None was "
     "dropped: the input holds too few stocks. Fix those inputs, or lower universe.min_symbols."),
    (["universe.k=0"], "universe.k must be at least 1 name per leg, e.g. 10. Got 0."),
    (["universe.books=['longshort']"], "universe.books: unknown book 'longshort'. Did you mean 'long_short'?"),
    (["backtest.borrow=2.0"], "backtest.borrow must be a yearly rate in [0, 1), e.g. 0.005 for 50 bp. Got 2.0."),
    (["universe.memory_gb=-1"], "universe.memory_gb must be a positive number of GiB for the pooled windows and "
     "training, e.g. 2.0. Got -1.0."),
    (["universe.target='median'"],
     "universe.target: expected one of 'return', 'rank', 'zscore', 'above_median'. Got 'median'."),
    (["data.source='sample'"], 'universe.enabled = true reads data.source = "csv"'),
    (["data.path='nope.csv'"], "data.path: file 'nope.csv' does not exist."),
])
def test_a_bad_universe_input_is_refused_by_name_leaving_nothing(frames, tmp_path, sets, message):
    path = write_long_csv(frames, tmp_path / "long.csv")
    result = runner.invoke(app, universe_args(path, tmp_path / "runs", *sets), env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in said(result) and "Traceback" not in result.output and "bug in wfbt" not in said(result)
    assert not (tmp_path / "runs").exists()


def _accuracy_by_loops(scores: pd.DataFrame, close: pd.DataFrame, scorer: str) -> float:
    """The median target's accuracy, (day, stock) by (day, stock) in plain Python: a stock is called "above"
    when its score beats the day's median score (over the stocks with a score and a next return), and is
    above when its next return beats the day's median next return (over every stock with one)."""
    hits = calls = 0
    for day, rows in scores.groupby("date"):
        t = close.index.get_loc(pd.Timestamp(day))
        if t + 1 == len(close):  # the last day has no next return: no call to judge
            continue
        ahead = (close.iloc[t + 1] / close.iloc[t] - 1.0).dropna()
        rows = rows.set_index("symbol")[scorer].dropna()
        rows = rows[rows.index.isin(ahead.index)]
        median_score, median_ahead = rows.median(), ahead.median()
        for symbol, score in rows.items():
            hits += int((score > median_score) == (ahead[symbol] > median_ahead))
            calls += 1
    return hits / calls


def test_the_median_target_trains_probabilities_and_scores_their_accuracy(frames, tmp_path):
    """universe.target = "above_median" with training.loss = "bce": the pooled lstm's forecasts are
    probabilities in (0, 1), and its accuracy in metrics.json equals a loop over scores.csv.gz and the
    closes; the console and the HTML show accuracy and the IC's verdict against zero."""
    path = write_long_csv(frames, tmp_path / "long.csv")
    sets = ["run.name='median'", "forecast.models=['lstm']", "universe.books=['long_short']", "strategies.rules=[]",
            "universe.target='above_median'", "training.loss='bce'", "forecast.lookback=5", "training.epochs=2",
            "training.patience=2"]
    result = runner.invoke(app, universe_args(path, tmp_path / "runs", *sets), env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "median"
    scores = pd.read_csv(run_dir / "scores.csv.gz")
    lstm = scores["lstm"].dropna()
    assert len(lstm) > 0.9 * len(scores) and ((lstm > 0) & (lstm < 1)).all() and lstm.std() > 0
    close = pd.DataFrame({s: f["close"] for s, f in frames.items()})
    metrics = {r["scorer"]: r for r in json.loads((run_dir / "metrics.json").read_text())["ic"]}
    for scorer in ("lstm", "reversal"):
        assert metrics[scorer]["accuracy"] == pytest.approx(_accuracy_by_loops(scores, close, scorer), abs=1e-12)
    assert metrics["lstm"]["ic_verdict"] in ("IC > 0", "IC < 0", "not distinguishable from zero")
    assert metrics["naive"]["ic_verdict"] == "undefined"
    assert "acc. %" in result.output and "vs 0" in result.output
    page = (run_dir / "report.html").read_text()
    assert "acc. %" in page and "vs 0" in page and "Holm-adjusted over the scorers" in page


@pytest.mark.parametrize("bad", [["universe.groups='/nonexistent/groups.csv'"],
                                 ["forecast.models=['lstm']", "forecast.lookback=5", "universe.memory_gb=0.000001"]])
def test_a_run_refused_after_its_folder_was_made_leaves_none_and_the_rerun_keeps_the_name(frames, tmp_path, bad):
    """A check that refuses the run once its folder exists (groups read, memory planned) removes that folder: the
    corrected rerun gets the same name, and nothing is left for `wfbt show` to call interrupted."""
    path = write_long_csv(frames, tmp_path / "long.csv")
    out = tmp_path / "runs"
    refused = runner.invoke(app, universe_args(path, out, "run.name='res'", *bad), env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output
    assert not (out / "res").exists()
    rerun = runner.invoke(app, [*universe_args(path, out, "run.name='res'"), "--quiet"])
    assert rerun.exit_code == 0 and rerun.output.strip().endswith("res"), rerun.output
    assert is_complete(out / "res") and not (out / "res-2").exists()
