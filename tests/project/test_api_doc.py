"""docs/api.md's notebook, run cell by cell in order: the Python API's page cannot drift from the code."""

import os
import re
from pathlib import Path

from typer.testing import CliRunner

from backtest.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def _cells() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.S)


def test_the_api_page_runs_and_writes_a_folder_show_reads(tmp_path, monkeypatch, capsys):
    os.symlink(ROOT / "configs", tmp_path / "configs")  # the cells name configs/default.toml
    monkeypatch.chdir(tmp_path)
    blocks = _cells()
    assert len(blocks) == 6
    scope: dict = {}
    for i, block in enumerate(blocks[:4]):  # sections 1-4: a single-symbol run
        exec(compile(block, f"docs/api.md cell {i + 1}", "exec"), scope)
    out = capsys.readouterr().out
    assert "rolling ['open', 'high', 'low', 'close'] next_open" in out and "runs/api-example" in out
    assert "'lstm': 3" in out and "'drift': 3" in out  # three folds of predictions per model
    shown = CliRunner().invoke(app, ["show", "runs/api-example"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0 and "buy_and_hold" in shown.output and "api-example" in shown.output
    assert len(scope["summary"].orders()) == len(scope["result"].orders)


def test_the_api_pages_universe_section_runs_with_the_same_calls(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_cells()[0].split("\nconfig = ")[0], "docs/api.md cell 1 (imports)", "exec"), scope)
    for i, block in enumerate(_cells()[4:]):  # section 5: a universe run
        exec(compile(block, f"docs/api.md cell {i + 5}", "exec"), scope)
    out = capsys.readouterr().out
    assert "UniverseResult ['naive', 'reversal', 'lstm', 'linear']" in out
    assert "UniverseSummary universe" in out and "runs/api-universe" in out
    assert "out of sample" in out  # show printed the universe header
    assert scope["universe_summary"].run_dir.resolve() == (tmp_path / "runs" / "api-universe").resolve()
    assert (tmp_path / "runs" / "api-baselines" / "manifest.json").is_file()
    shown = CliRunner().invoke(app, ["show", "runs/api-universe"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0 and "equal_weight" in shown.output
