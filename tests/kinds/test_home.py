"""backtest.kinds: each kind's home answers for every feature; mixed kinds are refused by name."""

from backtest.core.kinds import Kind
from backtest.engine.universe import BENCHMARK as UNIVERSE_BENCHMARK
from backtest.kinds import home
from backtest.kinds.single import SINGLE
from backtest.kinds.universe import UNIVERSE
from strategies.signals import BENCHMARK
from tests.conftest import synthetic_universe, tiny_config, universe_config, write_long_csv


def test_home_finds_the_kind_of_a_config_a_manifest_and_a_kind(tmp_path):
    path = write_long_csv(synthetic_universe(4, 260), tmp_path / "u.csv")
    assert home(tiny_config()) is SINGLE and home(universe_config(path)) is UNIVERSE
    assert home({"kind": "universe"}) is UNIVERSE and home({}) is SINGLE and home(Kind.SINGLE) is SINGLE


def test_each_kind_names_the_benchmark_its_engine_tests_against():
    assert (SINGLE.benchmark, UNIVERSE.benchmark) == (BENCHMARK, UNIVERSE_BENCHMARK)


def test_what_only_one_kind_does_yet_is_said_by_its_home():
    assert SINGLE.live_progress and not UNIVERSE.live_progress  # universe progress: issue 29's fourth item
    assert SINGLE.sweep_groups and not UNIVERSE.sweep_groups  # a universe cell trains in its own task


def test_each_kind_says_which_settings_it_applies():
    assert SINGLE.applies("strategies.stop_loss") and not UNIVERSE.applies("strategies.stop_loss")
    assert UNIVERSE.applies("universe.k") and not SINGLE.applies("universe.k")
    assert SINGLE.applies("backtest.fees") and UNIVERSE.applies("backtest.fees")
