"""Derived features through the real entry point: a run, the listing, and the refusals that name the fix."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import TINY, run_args, said, synthetic_prices, write_yahoo_csv

runner = CliRunner()
DERIVED = ["open", "high", "low", "close", "ret_5", "ret_20", "bb_pctb", "macd_hist", "rsi_14", "volume_rel_20",
           "vol_20"]


def test_python_m_backtest_run_trains_on_derived_features(tmp_path):
    """`wfbt run` (in-process through the app `python -m backtest` calls) trains on derived features."""
    path = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
    sets = [*TINY, "training.epochs=1", f"forecast.features={DERIVED!r}", "data.source=csv", f"data.path={str(path)!r}"]
    args = [a for s in sets for a in ("--set", s)]
    result = runner.invoke(app, ["run", "--quiet", "--out", str(tmp_path / "runs"), *args],
                           env={"COLUMNS": "250", "PATH": ""})
    assert result.exit_code == 0, result.output[-3000:]
    warning = " ".join(result.stderr.split())
    assert "1 fold(s) fit after the warm-up of 'macd_hist' (its first 25 rows, to 2015-02-04, have no value; " \
           "nothing is filled): fold 0 fits on 95 of its 120 days." in warning
    run = next((tmp_path / "runs").iterdir())
    predictions = pd.read_csv(run / "predictions.csv")
    lstm = predictions[predictions.model == "lstm"]
    assert len(lstm) == 300 - 160 and lstm.predicted.notna().all()  # every day after the first training window
    assert "ret_20" in (run / "config.toml").read_text()


def test_models_lists_every_derived_feature():
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ["ret_<n>", "bb_pctb[_<n>]", "macd_hist", "rsi_<n>", "volume_rel_<n>", "vol_<n>", "atr_<n>",
                 "ma_gap_<n>", "n - 1 (bb_pctb_20: 19)", "macd_slow - 1 (25)", "take [strategies] bollinger_window"]:
        assert text in result.output, text


@pytest.mark.parametrize(("feature", "message"), [
    ("rsi14", "forecast.features: unknown feature 'rsi14'. Did you mean 'rsi_14'? Known features: open, high, low, "
              "close, volume, and derived ret_<n>, vol_<n>, bb_pctb[_<n>], macd_hist, rsi_<n>, volume_rel_<n>, "
              "atr_<n>, ma_gap_<n> (see `wfbt models`, docs/features.md)."),
    ("volume_rel", "unknown feature 'volume_rel'. Did you mean 'volume_rel_20'?"),
    ("vol_1", "forecast.features: 'vol_1': vol takes a window n >= 2 (vol_<n>, e.g. vol_20). Got 'vol_1'."),
    ("macd_hist_9", "'macd_hist_9': macd_hist takes no window (it takes the strategies' MACD settings)."),
])
def test_an_unknown_or_misnumbered_feature_is_refused_with_a_suggestion(tmp_path, feature, message):
    path = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
    result = runner.invoke(app, run_args(path, tmp_path / "out", f"forecast.features=['close', {feature!r}]"),
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2 and message in said(result), result.output


def test_volume_rel_on_data_without_volume_is_refused_naming_the_fix(tmp_path):
    frame = synthetic_prices(300).drop(columns="volume")
    path = tmp_path / "index.csv"
    frame.rename(columns=str.title).rename_axis("Date").reset_index().to_csv(path, index=False)
    result = runner.invoke(app, run_args(path, tmp_path / "out", "forecast.features=['close', 'volume_rel_20']"),
                           env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert said(result) == (
        f"error: {path}: forecast.features includes 'volume_rel_20', computed from volume, but the data has no volume "
        "values (the column is absent or empty). Remove 'volume_rel_20' from forecast.features (e.g. --set "
        "\"forecast.features=['close']\"), or use data that has volume (map its column with data.columns).")


def test_a_universe_run_refuses_a_derived_feature_its_file_cannot_give(tmp_path):
    from tests.conftest import UNIVERSE_TINY, synthetic_universe, write_wide_csv

    path = write_wide_csv(synthetic_universe(8, 300), tmp_path / "wide.csv")  # closes only: no volume
    args = ["run", "--out", str(tmp_path / "runs"), "--set", "data.source='csv'", "--set", f"data.path={str(path)!r}"]
    for item in [*UNIVERSE_TINY, "forecast.models=['lstm']", "forecast.features=['close', 'volume_rel_20']"]:
        args += ["--set", item]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert (
        f"error: {path}: forecast.features includes 'volume_rel_20', computed from volume, but the data has no volume "
        "values (the column is absent or empty). Remove 'volume_rel_20' from forecast.features (e.g. --set "
        "\"forecast.features=['close']\"), or use data that has volume (map its column with data.columns)."
    ) in said(result)  # after the loader's warning
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("metrics.json"))
