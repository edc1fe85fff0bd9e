"""backtest.kinds: each kind's home answers for every feature; mixed kinds are refused by name."""

from backtest.core.config import load_config
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
    assert SINGLE.sweep_groups and not UNIVERSE.sweep_groups  # a universe cell trains in its own task


def test_each_kind_says_what_a_resume_loads_and_what_an_interrupted_run_kept(tmp_path):
    class Models:  # runs.checkpoint.Checkpoint: the architectures saved
        def saved(self):  # type: ignore[no-untyped-def]
            return ["gru"]

        def split(self, models):  # type: ignore[no-untyped-def]
            return [m for m in models if m == "gru"], [m for m in models if m != "gru"]

    class Chunks:  # runs.chunks.ChunkCheckpoint: the chunks of folds saved
        def saved(self):  # type: ignore[no-untyped-def]
            return [0, 1]

    config = load_config(None, ["forecast.models=['lstm', 'gru', 'linear']"])
    assert SINGLE.kept(Models()) == ["gru"] and UNIVERSE.kept(Chunks()) == ["chunk 0", "chunk 1"]
    assert SINGLE.resuming(Models(), config) == ("loading gru from the interrupted run's checkpoint; training "
                                                 "lstm, linear.")
    assert UNIVERSE.resuming(Chunks(), config) == ("loading the chunks of folds the interrupted run saved, training "
                                                   "the rest.")


def test_each_kind_says_which_settings_it_applies():
    assert SINGLE.applies("strategies.stop_loss") and not UNIVERSE.applies("strategies.stop_loss")
    assert UNIVERSE.applies("universe.k") and not SINGLE.applies("universe.k")
    assert SINGLE.applies("backtest.fees") and UNIVERSE.applies("backtest.fees")
