"""One manifest schema for both run kinds; folders written in the older shapes still read."""

import json

import pytest
import torch
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core.manifest import current_manifest
from backtest.engine.pipeline import _manifest as engine_manifest
from backtest.engine.schedule import make_folds
from backtest.runs.store import read_run
from backtest.runs.universe_folder import read_universe
from tests.conftest import UNIVERSE_TINY, synthetic_prices, synthetic_universe, tiny_config, write_long_csv
from tests.runs.test_compare import fake_run

runner = CliRunner()
SHARED = {"kind", "name", "seed", "data", "folds", "out_of_sample", "fills", "timings_s", "artifacts", "complete"}


def test_older_shapes_are_read_in_todays():
    old_universe = {"kind": "universe", "out_of_sample": ["2015-08-13", "2016-02-24", 140], "timings": {"load": 1.0}}
    assert current_manifest(old_universe) == {
        "kind": "universe", "out_of_sample": {"first": "2015-08-13", "last": "2016-02-24", "days": 140},
        "timings_s": {"load": 1.0}}
    old_single = {"name": "a", "out_of_sample": {"first": "2020-01-01", "last": "2020-02-01", "days": 23}}
    assert current_manifest(old_single) == {**old_single, "kind": "single"}
    today = {"kind": "single", "timings_s": {"data": 1.0}, "out_of_sample": {"first": "a", "last": "b", "days": 1}}
    assert current_manifest(today) == today


@pytest.fixture(scope="module")
def universe_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("u")
    path = write_long_csv(synthetic_universe(8, 300), tmp / "long.csv")
    args = ["run", "--quiet", "--out", str(tmp / "runs"), "--set", "data.source='csv'", "--set",
            f"data.path={str(path)!r}", "--set", "run.name='u'"]
    for item in UNIVERSE_TINY:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return tmp / "runs" / "u"


def test_both_kinds_write_the_same_shared_keys_in_the_same_shapes(universe_run, tmp_path):
    universe = json.loads((universe_run / "manifest.json").read_text())
    assert SHARED <= set(universe) and universe["kind"] == "universe"
    assert universe["out_of_sample"] == {"first": "2015-08-13", "last": "2016-02-24", "days": 140}
    assert set(universe["timings_s"]) == {"load", "score", "trade", "ic"}
    assert {"first", "last", "fingerprint"} <= set(universe["data"])
    single = _single_manifest(tiny_config())
    assert (SHARED - {"artifacts", "complete"}) <= set(single) and single["kind"] == "single"
    for key in ("out_of_sample", "timings_s", "data"):
        assert type(single[key]) is type(universe[key]) is dict
    assert set(single["out_of_sample"]) == set(universe["out_of_sample"])


def _single_manifest(config):
    """The single-symbol engine's manifest of ``config`` on synthetic prices with its folds, no model trained."""
    prices = synthetic_prices()
    return engine_manifest(config, prices, make_folds(len(prices), config.walkforward), torch.device("cpu"),
                    {"data": 0.1})


def test_a_universe_folder_in_the_older_shape_still_reads_and_shows(universe_run, tmp_path):
    manifest = json.loads((universe_run / "manifest.json").read_text())
    oos = manifest.pop("out_of_sample")
    manifest["out_of_sample"] = [oos["first"], oos["last"], oos["days"]]
    manifest["timings"] = manifest.pop("timings_s")
    (universe_run / "manifest.json").write_text(json.dumps(manifest))
    summary = read_universe(universe_run)
    assert summary.manifest["out_of_sample"]["days"] == 140 and "load" in summary.manifest["timings_s"]
    shown = runner.invoke(app, ["show", str(universe_run)], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    assert "out of sample 2015-08-13 → 2016-02-24 (140 days)" in shown.output and "timings: load" in shown.output


def test_a_single_symbol_folder_without_a_kind_still_reads(tmp_path):
    run = fake_run(tmp_path / "old", "2020-01-01", 60, {"buy_and_hold": 1.001})
    assert "kind" not in json.loads((run / "manifest.json").read_text())
    summary = read_run(run)
    assert summary.manifest["kind"] == "single" and summary.manifest["out_of_sample"]["days"] == 60
