"""kind_of: one way to ask a config, a manifest, a raw config table or a result which kind of run it is."""

import pytest

from backtest.core.errors import RunDirError
from backtest.core.kinds import Kind, kind_of
from backtest.engine.pipeline import RunResult
from backtest.engine.universe import UniverseResult
from backtest.runs.store import RunSummary
from backtest.runs.universe_folder import UniverseSummary
from tests.conftest import synthetic_universe, tiny_config, universe_config, write_long_csv


def test_a_config_is_a_universe_only_when_its_universe_is_enabled(tmp_path):
    assert kind_of(tiny_config()) is Kind.SINGLE
    path = write_long_csv(synthetic_universe(4, 260), tmp_path / "u.csv")
    assert kind_of(universe_config(path)) is Kind.UNIVERSE


@pytest.mark.parametrize(("table", "kind"), [
    ({"kind": "universe"}, Kind.UNIVERSE),
    ({"kind": "single"}, Kind.SINGLE),
    ({"name": "default", "data": {"symbol": "^GSPC"}}, Kind.SINGLE),  # a manifest from before "kind" was written
    ({"universe": {"enabled": True}}, Kind.UNIVERSE),  # a raw config table (a sweep's base)
    ({"universe": {"enabled": False}}, Kind.SINGLE),
    ({"universe": {"enabled": "yes"}}, Kind.SINGLE),  # not true: config validation refuses it with its own message
    ({"universe": "on"}, Kind.SINGLE),
])
def test_a_mapping_is_read_as_a_manifest_or_a_config_table(table, kind):
    assert kind_of(table) is kind


def test_an_unknown_kind_in_a_manifest_is_refused_by_name():
    with pytest.raises(RunDirError, match=r"manifest.json says kind 'portfolio'; wfbt knows 'single', 'universe'"):
        kind_of({"kind": "portfolio"})


def test_results_and_summaries_carry_their_kind():
    assert (RunResult.kind, RunSummary.kind) == (Kind.SINGLE, Kind.SINGLE)
    assert (UniverseResult.kind, UniverseSummary.kind) == (Kind.UNIVERSE, Kind.UNIVERSE)


def test_a_thing_without_a_kind_is_a_type_error():
    with pytest.raises(TypeError, match="int has no run kind"):
        kind_of(3)
