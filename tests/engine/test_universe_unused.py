"""A baselines-only universe run names the settings it leaves unused (they shape only the pooled networks)."""

from __future__ import annotations

import warnings

import pytest

from backtest.core.errors import DataWarning
from backtest.engine.universe import _warn_unused, run_universe
from tests.conftest import synthetic_universe, universe_config, write_long_csv


def test_a_baselines_only_run_names_the_network_settings_it_leaves_unused(tmp_path):
    config = universe_config(tmp_path / "x.csv", "forecast.features=['close', 'volume', 'rsi_14']",
                             "universe.processors=['cs_rank']", "universe.target='rank'", "universe.horizon=5")
    with pytest.warns(DataWarning, match="forecast.models is empty") as caught:
        _warn_unused(config)
    text = str(caught[0].message)
    assert "forecast.features = ['close', 'volume', 'rsi_14']" in text and "universe.processors = ['cs_rank']" in text
    assert "universe.target = 'rank'" in text and "universe.horizon = 5" in text


def test_settings_left_at_their_defaults_are_not_named(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        _warn_unused(universe_config(tmp_path / "x.csv"))
    with pytest.warns(DataWarning) as caught:  # the median target labels the baselines' accuracy: it is used
        _warn_unused(universe_config(tmp_path / "x.csv", "universe.target='above_median'", "universe.horizon=5",
                                     "universe.processors=['cs_rank']"))
    assert "universe.target" not in str(caught[0].message) and "universe.horizon" not in str(caught[0].message)


def test_run_universe_warns_when_it_trains_no_network(tmp_path):
    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    with pytest.warns(DataWarning, match=r"universe.target = 'rank' go unused"):
        run_universe(universe_config(path, "universe.target='rank'"))
