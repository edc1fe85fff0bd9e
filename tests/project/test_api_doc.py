"""docs/api.md's notebook, run cell by cell in order: the Python API's page cannot drift from the code."""

import os
import re
from pathlib import Path

from typer.testing import CliRunner

from backtest.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def test_the_api_page_runs_and_writes_a_folder_show_reads(tmp_path, monkeypatch, capsys):
    os.symlink(ROOT / "configs", tmp_path / "configs")  # the cells name configs/default.toml
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    scope: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/api.md cell {i + 1}", "exec"), scope)
    out = capsys.readouterr().out
    assert "rolling ['open', 'high', 'low', 'close'] next_open" in out and "runs/api-example" in out
    assert "'lstm': 3" in out and "'drift': 3" in out  # three folds of predictions per model
    shown = CliRunner().invoke(app, ["show", "runs/api-example"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0 and "buy_and_hold" in shown.output and "api-example" in shown.output
    assert len(scope["summary"].orders()) == len(scope["result"].orders)
