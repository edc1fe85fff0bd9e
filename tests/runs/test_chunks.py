"""The universe checkpoint: each trained chunk of folds saved with its proof, loaded on resume bit for bit,
and a damaged one trained again with a warning."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from backtest.core.errors import CheckpointWarning
from backtest.engine import pooled
from backtest.engine.schedule import Fold
from backtest.runs.chunks import ChunkCheckpoint
from forecasters.registry import get_architecture
from forecasters.trainer import TrainSettings
from tests.conftest import synthetic_prices

CPU = torch.device("cpu")
SETTINGS = TrainSettings(epochs=2, batch_size=64, patience=2)
FOLDS = [Fold(0, 0, 80, 100, 100, 140), Fold(1, 40, 120, 140, 140, 180)]
IDENTITY = {"run": {"seed": 3, "threads": 1}}


def _close() -> pd.DataFrame:
    return pd.concat({f"S{k}": synthetic_prices(200, seed=k)["close"] for k in range(6)}, axis=1)


def _budget() -> int:
    """Room for one fold's windows and training, not two: the two folds are two chunks."""
    return pooled.fold_bytes(get_architecture("lstm"), FOLDS[:1], 6, 5, 1, SETTINGS.batch_size)


class Counting:
    """An in-process runner that records which chunks it trained."""

    def __init__(self) -> None:
        self.trained: list[int] = []

    def __call__(self, values, todo, job):  # type: ignore[no-untyped-def]
        for index, folds in todo:
            self.trained.append(index)
            yield index, pooled.train_chunk(values, folds, job)


def _job() -> pooled.ChunkJob:
    """The job ``_scores`` trains each chunk with."""
    return pooled.ChunkJob((get_architecture("lstm"),), tuple(_close().columns), 5, "return", 3, 1, SETTINGS, "cpu",
                           "pooled", _budget(), 1)


def _scores(close: pd.DataFrame, store: ChunkCheckpoint | None, runner: Counting | None = None
            ) -> dict[str, pd.DataFrame]:
    return pooled.pooled_scores(close, FOLDS, ["lstm"], 5, "return", seed=3, settings=SETTINGS, device=CPU,
                                budget=_budget(), store=store, runner=runner, threads=1)


@pytest.fixture
def saved(tmp_path):
    """A run folder whose two chunks are saved, and the scores of that uninterrupted run."""
    store = ChunkCheckpoint(tmp_path / "run")
    store.begin(IDENTITY, "data", resume=False)
    return tmp_path / "run", _scores(_close(), store)


def test_each_chunk_is_saved_with_its_proof_written_last(saved):
    run, _ = saved
    record = json.loads((run / "partial" / "chunk-001.chunk.json").read_text())
    assert record["folds"] == [1] and record["models"] == ["lstm", "linear"] and len(record["state"]) == 64
    parts = pd.read_csv(run / "partial" / "chunk-001.parts.csv")
    assert record["parts"]["rows"] == len(parts) == 2 * 6 * 40  # lstm and linear, 6 stocks x 40 test days
    assert set(parts["fold"]) == {1} and parts["row"].between(140, 179).all()
    assert ChunkCheckpoint(run).saved() == [0, 1]


def test_a_resume_loads_the_saved_chunks_and_equals_the_run_bit_for_bit(saved):
    run, whole = saved
    ChunkCheckpoint(run).discard(1)  # as if killed while training the second chunk
    store, runner = ChunkCheckpoint(run), Counting()
    store.begin(IDENTITY, "data", resume=True)
    resumed = _scores(_close(), store, runner)
    assert runner.trained == [1]  # chunk 0 loaded, not trained again
    for name in ("lstm", "linear", "reversal", "naive"):
        pd.testing.assert_frame_equal(resumed[name], whole[name], check_exact=True)


def test_each_chunk_saves_its_training_log_with_the_same_proof(saved):
    run, _ = saved
    record = json.loads((run / "partial" / "chunk-001.chunk.json").read_text())
    log = pd.read_csv(run / "partial" / "chunk-001.log.csv")
    assert record["log"]["rows"] == len(log) == 1 and log["fold"].tolist() == [1] and log["model"].tolist() == ["lstm"]
    back = ChunkCheckpoint(run).load(1, FOLDS[1:], ["lstm", "linear"])
    assert back is not None
    pd.testing.assert_frame_equal(back.log, pooled.train_chunk(_close().to_numpy(), FOLDS[1:], _job()).log.assign(
        seconds=back.log["seconds"]), check_exact=True)  # the same epochs and losses, bit for bit; seconds vary
    (run / "partial" / "chunk-001.log.csv").write_text(
        (run / "partial" / "chunk-001.log.csv").read_text().replace("\nlstm,", "\ngru,"))
    with pytest.raises(Exception, match="chunk-001.log.csv is not the file the checkpoint saved"):
        ChunkCheckpoint(run).load(1, FOLDS[1:], ["lstm", "linear"])


def test_a_chunk_saved_without_a_training_log_is_trained_again_named(saved):
    run, whole = saved
    path = run / "partial" / "chunk-000.chunk.json"
    record = json.loads(path.read_text())
    del record["log"]  # as a wfbt older than the training log saved it
    path.write_text(json.dumps(record))
    (run / "partial" / "chunk-000.log.csv").unlink()
    store, runner = ChunkCheckpoint(run), Counting()
    store.begin(IDENTITY, "data", resume=True)
    with pytest.warns(CheckpointWarning, match="saved by an older wfbt, without the networks' training log"):
        resumed = _scores(_close(), store, runner)
    assert runner.trained == [0]
    pd.testing.assert_frame_equal(resumed["lstm"], whole["lstm"], check_exact=True)
    assert (run / "partial" / "chunk-000.log.csv").exists()


def test_a_fresh_start_drops_the_chunks_of_an_earlier_run(saved):
    run, _ = saved
    ChunkCheckpoint(run).begin(IDENTITY, "data", resume=False)
    assert ChunkCheckpoint(run).saved() == [] and not list((run / "partial").glob("chunk-*"))


@pytest.mark.parametrize(("damage", "named"), [
    (lambda p: p.write_text(p.read_text().replace("linear", "lineas", 1)), "SHA-256 differs"),
    (lambda p: p.write_text("\n".join(p.read_text().splitlines()[:-5]) + "\n"), "rows"),
    (lambda p: p.with_name("chunk-000.chunk.json").unlink(), "chunk-000.chunk.json is missing"),
])
def test_a_damaged_chunk_is_trained_again_with_a_warning(saved, damage, named):
    run, whole = saved
    damage(run / "partial" / "chunk-000.parts.csv")
    store, runner = ChunkCheckpoint(run), Counting()
    store.begin(IDENTITY, "data", resume=True)
    with pytest.warns(CheckpointWarning, match=named) as caught:
        resumed = _scores(_close(), store, runner)
    assert "chunk 0 (folds [0])" in str(caught[0].message) and "trained again" in str(caught[0].message)
    assert runner.trained == [0]
    pd.testing.assert_frame_equal(resumed["lstm"], whole["lstm"], check_exact=True)
    assert ChunkCheckpoint(run).saved() == [0, 1]  # saved again, whole


def test_a_chunk_of_another_run_or_other_folds_does_not_prove_itself(saved):
    run, _ = saved
    store = ChunkCheckpoint(run)
    with pytest.raises(Exception, match=r"holds folds \[1\] but this chunk is \[0\]"):
        store.load(1, FOLDS[:1], ["lstm", "linear"])
    with pytest.raises(Exception, match="holds models"):
        store.load(1, FOLDS[1:], ["gru", "linear"])
    (run / "partial" / "state.json").write_text('{"config": {}, "data_fingerprint": "other"}')
    with pytest.raises(Exception, match="belongs to another run"):
        store.load(0, FOLDS[:1], ["lstm", "linear"])


def test_the_saved_table_reads_back_as_the_same_float64_values(tmp_path):
    values = np.array([0.1, 1 / 3, -2.5e-17], dtype=np.float32)
    parts = {"lstm": [(values, np.array([100, 101, 139]), np.array([0, 5, 2]))], "linear": []}
    store = ChunkCheckpoint(tmp_path / "run")
    store.begin(IDENTITY, "data", resume=False)
    store.save(0, FOLDS[:1], pooled.TrainedChunk(parts, pooled.training_log([])))
    back = store.load(0, FOLDS[:1], ["lstm", "linear"])
    assert back is not None and back.parts["linear"] == [] and back.log.empty
    got, rows, cols = back.parts["lstm"][0]
    assert np.array_equal(got, values.astype(np.float64)) and rows.tolist() == [100, 101, 139]
    assert cols.tolist() == [0, 5, 2]


# --- a run started by an older wfbt resumes under a newer one that only added settings at their defaults -----

def _started_before(tmp_path, drop: str):
    """A checkpoint begun with the tiny config, its state.json then missing ``drop`` (as an older wfbt wrote it)."""
    import dataclasses

    from backtest.core.config import _plain
    from backtest.runs.checkpoint import Checkpoint
    from tests.conftest import tiny_config

    config = {f.name: _plain(getattr(tiny_config(), f.name)) for f in dataclasses.fields(tiny_config())
              if f.name != "networks"}
    checkpoint = Checkpoint(tmp_path / "r")
    checkpoint.begin(config, "fingerprint", False)
    state = json.loads((checkpoint.dir / "state.json").read_text())
    del state["config"][drop]
    (checkpoint.dir / "state.json").write_text(json.dumps(state))
    return checkpoint, config


def test_a_setting_added_since_the_run_started_at_its_default_does_not_block_resume(tmp_path):
    checkpoint, config = _started_before(tmp_path, "universe.target_processors")
    assert checkpoint.begin(config, "fingerprint", True) == []


def test_a_setting_added_since_the_run_started_but_set_otherwise_blocks_resume(tmp_path):
    from backtest.core.errors import RunDirError

    checkpoint, config = _started_before(tmp_path, "universe.target_processors")
    config["universe"]["target_processors"] = ["cs_rank"]
    with pytest.raises(RunDirError, match=re.escape("universe.target_processors: None -> ['cs_rank']")):
        checkpoint.begin(config, "fingerprint", True)
