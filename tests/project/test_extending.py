"""docs/extending.md's worked examples, run in order as one script: the docs cannot drift from the code."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def restore_registries():
    from backtest.core.config import SOURCES
    from backtest.data.load import READERS
    from forecasters.registry import ARCHITECTURES
    from strategies.signals import RULES

    tables = (ARCHITECTURES, RULES, READERS, SOURCES)
    saved = [dict(table) for table in tables]
    yield
    for table, old in zip(tables, saved, strict=True):
        table.clear()
        table.update(old)


def test_the_extending_guide_runs(restore_registries, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the examples use configs/default.toml
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "extending.md").read_text(), re.S)
    assert len(blocks) == 4
    exec(compile("\n".join(blocks), "docs/extending.md", "exec"), {})
    out = capsys.readouterr().out
    assert "gru16: Theil U" in out and "PSR against buy-and-hold" in out and "2024-01-09" in out
