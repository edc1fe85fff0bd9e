"""The names a comparison gives its runs, shared by both kinds' compare."""

import pytest

from backtest.core.errors import WfbtError
from backtest.runs.labels import refuse_repeated, run_labels


def test_labels_take_as_many_parent_folders_as_it_takes_to_tell_runs_apart(tmp_path):
    a, b, c = tmp_path / "x" / "run", tmp_path / "y" / "run", tmp_path / "y" / "other"
    assert run_labels([a, c]) == ["run", "other"]
    assert run_labels([a, b]) == ["x/run", "y/run"]


def test_a_folder_named_twice_is_refused_in_either_spelling(tmp_path):
    refuse_repeated([str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(WfbtError, match="is given twice to compare"):
        refuse_repeated([str(tmp_path / "a"), str(tmp_path / "b" / ".." / "a")])
