"""`wfbt compare` on small synthetic run folders whose equity curves are known in closed form."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.config import load_config
from backtest.core.errors import RunDirError
from backtest.core.files import atomic_write_csv, atomic_write_json, atomic_write_text, describe
from backtest.runs.compare import compare
from backtest.runs.store import to_toml
from backtest.scoring.metrics import equity_figures, forecast_table

CASH = 100_000.0
SHARES = CASH / 101.0
EXIT = 1 - (1 - 0.0005) * (1 - 0.001)  # the default config's slippage and fee (no tax) on a sale


def fake_run(path, start, days, curves, trades=3):
    """A finished run folder: equity columns from ``curves`` (name -> daily growth factor), one model."""
    dates = pd.bdate_range(start, periods=days)
    t = np.arange(1, days + 1)
    equity = pd.DataFrame({name: CASH * g ** t for name, g in curves.items()}, index=dates)
    equity.index = equity.index.strftime("%Y-%m-%d")
    equity.index.name = "date"
    path.mkdir(parents=True)
    atomic_write_text(path / "config.toml", to_toml(load_config(None, [])))
    atomic_write_csv(path / "equity.csv", equity, index=True)
    actual = 100 + t.astype(float)
    preds = pd.DataFrame({"date": equity.index, "model": "gru", "fold": t // 20, "predicted": actual + 1.0,
                          "actual": actual, "naive": actual - 1.0})
    atomic_write_csv(path / "predictions.csv", preds)
    atomic_write_csv(path / "folds.csv", pd.DataFrame({"model": ["gru"], "fold": [0]}))
    orders = pd.DataFrame({"strategy": list(curves), "date": equity.index[0], "side": "Buy", "size": SHARES,
                           "price": 101.0, "fees": 0.0})  # every curve holds SHARES from its first day on
    atomic_write_csv(path / "orders.csv", orders)
    trading = [{"strategy": name, **trading_from_equity(equity[name], CASH), "trades": trades}
               for name in curves]
    forecast = forecast_table(preds).to_dict(orient="records")
    atomic_write_json(path / "metrics.json", {"forecast": forecast, "forecast_by_fold": [], "trading": trading})
    files = ["config.toml", "equity.csv", "predictions.csv", "folds.csv", "metrics.json", "orders.csv"]
    atomic_write_json(path / "manifest.json", {
        "name": path.name, "seed": 0, "device": "cpu", "folds": 1, "complete": True,
        "data": {"source": "csv", "symbol": "x", "rows": days, "first": dates[0], "last": dates[-1]},
        "out_of_sample": {"first": dates[0], "last": dates[-1], "days": days},
        "artifacts": {name: describe(path / name) for name in files},
    })
    return path


@pytest.fixture
def two_runs(tmp_path):
    a = fake_run(tmp_path / "a", "2020-01-01", 100, {"buy_and_hold": 1.001, "gru:forecast": 1.002})
    b = fake_run(tmp_path / "b", pd.bdate_range("2020-01-01", periods=51)[-1], 100,
                 {"buy_and_hold": 0.999, "gru:forecast": 1.0005})
    return a, b


def test_different_periods_are_cut_to_the_common_one_and_rebased(two_runs):
    a, b = two_runs
    result = compare([str(a), str(b)])
    dates = pd.bdate_range("2020-01-01", periods=100)
    assert (result.first, result.last, result.days) == (dates[50], dates[99], 50)
    assert not result.same_period and "common period only, 2020-03-11 → 2020-05-19 (50 trading days)" in result.note()
    rows = result.trading.set_index(["run", "strategy"])
    # a's curve is cut after its 50th day: rebased there, 50 more days of growth remain
    assert rows.loc[("a", "buy_and_hold"), "total_return"] == pytest.approx(100 * (1.001 ** 50 - 1))
    assert rows.loc[("a", "gru:forecast"), "total_return"] == pytest.approx(100 * (1.002 ** 50 - 1))
    # b starts on the common period's first day: its base is the initial cash; it is cut before its own last
    # day, so the shares it holds then are sold at that day's close (b's day 50: actual = 150), paying the exit
    sold = CASH * 0.999 ** 50 - SHARES * 150.0 * EXIT
    assert rows.loc[("b", "buy_and_hold"), "total_return"] == pytest.approx(100 * (sold / CASH - 1))
    # drawdown from the first day's value on, as a run's own table measures it (vectorbt; test_metrics pins it)
    assert rows.loc[("b", "buy_and_hold"), "max_drawdown"] == pytest.approx(100 * (sold / (CASH * 0.999) - 1))
    assert "trades" not in rows.columns  # fills inside the period are not recomputed from equity
    # the chart's curves: same dates for every run, 100 at the base, known values on the first and last day
    eq = result.equity
    assert list(eq.index) == list(dates[50:])
    assert eq["a:buy_and_hold"].iloc[0] == pytest.approx(100 * 1.001)
    assert eq["a:buy_and_hold"].iloc[-1] == pytest.approx(100 * 1.001 ** 50)
    assert eq["b:gru:forecast"].iloc[-1] == pytest.approx(100 * (1.0005 ** 50 - SHARES * 150.0 * EXIT / CASH))
    assert list(result.trading["strategy"].iloc[:1]) == ["gru:forecast"]  # sorted by Sharpe
    # forecast errors recomputed on the common 50 days only: predicted = actual + 1 -> RMSE 1
    fc = result.forecast.set_index(["run", "model"])
    assert fc.loc[("a", "gru"), "n"] == 50 and fc.loc[("a", "gru"), "rmse"] == pytest.approx(1.0)
    assert fc.loc[("b", "naive"), "n"] == 50


def test_same_period_uses_the_saved_metrics_and_filters(tmp_path):
    a = fake_run(tmp_path / "x" / "run", "2021-01-01", 60, {"buy_and_hold": 1.001, "gru:forecast": 1.002,
                                                             "macd": 0.998}, trades=7)
    b = fake_run(tmp_path / "y" / "run", "2021-01-01", 60, {"buy_and_hold": 1.001, "gru:forecast": 1.0001})
    result = compare([str(a), str(b)], strategies=["gru*"], sort="return")
    assert result.same_period and result.labels == ["x/run", "y/run"]  # same folder names: parents added
    assert set(result.trading["strategy"]) == {"buy_and_hold", "gru:forecast"}  # macd filtered out
    assert (result.trading["trades"] == 7).sum() == 2  # saved metrics, trades included
    assert list(result.trading["total_return"]) == sorted(result.trading["total_return"], reverse=True)


def test_recomputed_metrics_equal_vectorbts_on_a_real_run(tmp_path):
    from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

    csv = tmp_path / "p.csv"
    write_yahoo_csv(synthetic_prices(), csv)
    args = ["run", "--quiet", "--out", str(tmp_path / "runs"), "--set", "data.source='csv'",
            "--set", f"data.path={str(csv)!r}", "--set", "run.name='r'"]
    for item in TINY:
        args += ["--set", item]
    assert CliRunner().invoke(app, args).exit_code == 0
    from backtest.runs.store import read_run

    s = read_run(tmp_path / "runs" / "r")
    for strategy in s.equity.columns:
        mine = trading_from_equity(s.equity[strategy], CASH)
        for key, value in mine.items():
            saved = s.trading.loc[strategy, key]
            assert (np.isnan(value) and np.isnan(saved)) or value == pytest.approx(saved, rel=1e-9, abs=1e-12), key


def test_cli_prints_tables_chart_and_writes_the_page(two_runs, tmp_path):
    a, b = two_runs
    page = tmp_path / "cmp.html"
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--html", str(page), "--model", "gru"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "common period only" in out and "Forecast errors across runs" in out and "Trading across runs" in out
    assert "a:buy_and_hold" in out and "└" in out  # the chart's legend and axis
    text = page.read_text()
    assert "compare-equity" in text and "a:gru:forecast" in text and "common period only" in text


def test_incomplete_missing_and_disjoint_runs_are_refused(two_runs, tmp_path):
    a, b = two_runs
    (b / "manifest.json").unlink()
    with pytest.raises(RunDirError, match="is incomplete"):
        compare([str(a), str(b)])
    runner = CliRunner()
    missing = runner.invoke(app, ["compare", str(a), str(tmp_path / "nope")], env={"COLUMNS": "200"})
    assert missing.exit_code == 2 and "does not exist" in missing.output and "Traceback" not in missing.output
    c = fake_run(tmp_path / "c", "2024-01-01", 30, {"buy_and_hold": 1.0})
    disjoint = runner.invoke(app, ["compare", str(a), str(c)], env={"COLUMNS": "200"})
    assert disjoint.exit_code == 2 and "share no out-of-sample day" in disjoint.output
    bad_sort = runner.invoke(app, ["compare", str(a), "--sort", "profit"], env={"COLUMNS": "200"})
    assert bad_sort.exit_code == 2 and "Use one of: sharpe" in bad_sort.output


def test_unwritable_page_path_is_a_message(two_runs, tmp_path):
    a, b = two_runs
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--html", str(blocker / "cmp.html")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "cannot write the comparison page" in result.output
    assert "Pass --html PATH" in result.output and "Traceback" not in result.output


def test_sorting_by_trades_needs_the_same_period(two_runs):
    a, b = two_runs
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--sort", "trades"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--sort trades needs trades" in result.output and "Traceback" not in result.output


def test_manifest_must_say_complete(tmp_path):
    a = fake_run(tmp_path / "a", "2020-01-01", 30, {"buy_and_hold": 1.0})
    (a / "manifest.json").write_text(json.dumps({"complete": False}))
    with pytest.raises(RunDirError, match=r"is incomplete: the run was interrupted or failed before it finished"):
        compare([str(a)])


def cli(*args):
    result = CliRunner().invoke(app, ["compare", *map(str, args)], env={"COLUMNS": "300"})
    return result, " ".join(result.output.split())


def test_the_same_run_twice_is_refused(two_runs):
    a, _ = two_runs
    for second in (a, a.parent / "." / a.name):
        result, text = cli(a, second)
        assert result.exit_code == 2 and "Traceback" not in text
        assert "is given twice to compare (the same run). Name each run once, e.g. wfbt compare runs/a runs/b." in text


def test_same_folder_names_get_enough_parents_to_differ(tmp_path):
    a = fake_run(tmp_path / "x" / "r" / "run", "2021-01-01", 40, {"buy_and_hold": 1.001})
    b = fake_run(tmp_path / "y" / "r" / "run", "2021-01-01", 40, {"buy_and_hold": 1.002})
    assert compare([str(a), str(b)]).labels == ["x/r/run", "y/r/run"]


@pytest.mark.parametrize("artifact, rows", [("predictions.csv", 100), ("equity.csv", 100)])
def test_a_cut_off_artifact_is_refused_not_read_as_a_shorter_run(two_runs, artifact, rows):
    a, b = two_runs
    data = (a / artifact).read_bytes()
    cut = data[:data.index(b"\n", len(data) // 2) + 1]  # whole rows: parses fine, just fewer days
    (a / artifact).write_bytes(cut)
    kept = cut.count(b"\n") - 1
    result, text = cli(a, b)
    assert result.exit_code == 2, text
    assert (f"error: run folder {str(a)!r} is damaged: {artifact} has {kept} rows but the run wrote "
            f"{rows} (the file was cut off or edited). Run it again (the same command with --force replaces the "
            "folder).") in text
    (a / artifact).write_bytes(data[:len(data) // 2])  # cut mid-row
    result, text = cli(a, b)
    assert result.exit_code == 2 and f"is damaged: {artifact} has" in text and "Traceback" not in text


def test_an_edited_artifact_with_the_same_rows_is_refused(two_runs):
    a, b = two_runs
    text = (a / "equity.csv").read_text()
    (a / "equity.csv").write_text(text.replace("1", "2", 5))
    result, out = cli(a, b)
    assert result.exit_code == 2
    assert "is damaged: equity.csv is not the file the run wrote" in out and "SHA-256 differs" in out


@pytest.mark.parametrize("drop", ["out_of_sample", "data", "artifacts", "data.first"])
def test_a_manifest_missing_keys_is_refused(two_runs, drop):
    a, b = two_runs
    manifest = json.loads((a / "manifest.json").read_text())
    if "." in drop:
        section, key = drop.split(".")
        del manifest[section][key]
    else:
        del manifest[drop]
    (a / "manifest.json").write_text(json.dumps(manifest))
    result, text = cli(a, b)
    assert result.exit_code == 2, text
    assert (f"error: run folder {str(a)!r} has a manifest.json without {drop}: it was edited, or written by another "
            "program or an older wfbt (before artifact checksums). Run it again to get a complete folder.") in text
    shown = CliRunner().invoke(app, ["show", str(a)], env={"COLUMNS": "300"})
    assert shown.exit_code == 2 and "has a manifest.json without" in shown.output


def test_a_folder_that_is_not_a_run(two_runs, tmp_path):
    a, _ = two_runs
    (tmp_path / "photos").mkdir()
    result, text = cli(a, tmp_path / "photos")
    assert result.exit_code == 2
    assert f"error: {str(tmp_path / 'photos')!r} is not a wfbt run folder: it has none of a run's files" in text


def trading_from_equity(equity: pd.Series, base: float) -> dict[str, float]:
    """One curve's figures, as compare recomputes them."""
    return equity_figures(equity.to_frame("x"), pd.Series({"x": base})).loc["x"].to_dict()


# A run cut before its own last day sells what it holds over the cut day, in both execution modes. With
# execution = "close" an order is dated by the close it filled at, the decision day's: a sell dated at the cut
# day's close leaves the shares in that day's equity, and a buy dated there is not yet in it.
PRICES = pd.DataFrame({"open": [99.0, 101.0, 103.0, 100.0, 106.0, 103.0],
                       "close": [100.0, 102.0, 101.0, 105.0, 104.0, 108.0]},
                      index=pd.bdate_range("2021-01-04", periods=6))


def _simulated_run(execution):
    """A stand-in RunSummary of a 6-day run traded by the engine: "out" held over days 1-3 (decided flat at
    close 3), "late" held over days 4-5 (decided long at close 3), fee 1 %, tax 0.3 %, slippage 0.2 %."""
    from types import SimpleNamespace

    from backtest.core.config import BacktestSection
    from backtest.engine.portfolio import fill_dates, holdings, simulate

    idx = PRICES.index
    states = {"out": pd.Series([True, True, True, False, False, False], index=idx),
              "late": pd.Series([False, False, False, True, True, True], index=idx)}
    cfg = BacktestSection(init_cash=1000.0, fees=0.01, tax=0.003, slippage=0.002, execution=execution)
    pf = simulate(PRICES, states, 1, cfg)
    rows = pf.orders.records_readable.rename(columns={"Column": "strategy", "Timestamp": "date", "Side": "side",
                                                      "Size": "size"})
    rows["date"] = fill_dates(rows, idx, holdings(states, 1).iloc[-1], execution)
    preds = pd.DataFrame({"date": idx[1:], "actual": PRICES["close"].iloc[1:].to_numpy()})
    config = {"backtest": {"fees": 0.01, "tax": 0.003, "slippage": 0.002, "execution": execution}}
    return SimpleNamespace(equity=pf.value(), orders=lambda: rows, predictions=lambda: preds, config=lambda: config)


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_a_cut_run_sells_what_it_holds_over_the_cut_day_in_both_execution_modes(execution):
    from backtest.runs.compare import _sold_at

    run = _simulated_run(execution)
    cut = PRICES.index[3]  # close 105: "out" is held over day 3, "late" is not (it is bought at close 3 or open 4)
    eq = _sold_at(run, run.equity.loc[:cut], cut)
    shares = 1000.0 / ({"next_open": 101.0, "close": 100.0}[execution] * 1.002 * 1.01)  # out's buy: open 1 / close 0
    assert eq.loc[cut, "out"] == pytest.approx(shares * 105.0 * 0.998 * (1 - 0.013), rel=1e-12)
    assert eq.loc[cut, "late"] == 1000.0  # flat over day 3: nothing to sell, no exit cost
