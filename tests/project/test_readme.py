"""The README's offline commands, run as a user would type them, from the checkout: the guide cannot rot."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def wfbt(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "backtest", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize(("command", "expect"), [
    (["models"], "gru_stacked"), (["strategies"], "forecast+bollinger"),
    (["plan"], "20 folds x 5 architectures x 1 seed(s) = 100 models"),
    (["sweep", "configs/sweep_example.toml", "--plan"], "18 cells, 15 training groups, 1,800 models"),
])
def test_offline_commands_work_as_the_readme_shows(command, expect):
    assert f"wfbt {command[0]}" in README
    result = wfbt(*command)
    assert result.returncode == 0, result.stderr
    assert expect in " ".join(result.stdout.split()), result.stdout
    assert "…" not in result.stdout


def test_show_reprints_a_tiny_run(tmp_path):
    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")
    args = ["run", "--quiet", "--out", str(tmp_path), "--set", "data.source=csv", "--set", f"data.path={str(csv)!r}"]
    for item in TINY:
        args += ["--set", item]
    ran = wfbt(*args)
    assert ran.returncode == 0, ran.stderr
    shown = wfbt("show", ran.stdout.strip())
    assert shown.returncode == 0 and "Forecasts out of sample" in shown.stdout and "vs B&H" in shown.stdout


def test_readme_links_point_at_files_that_exist():
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        assert (ROOT / link).exists(), link


def test_readme_stays_a_guide():
    # a guide, not a manual: 13.5 KB holds the two commands, the output, the studies, sources, sweeps, universes
    # and the folder map; details go to docs/
    assert len(README.encode()) <= 17_500
    assert "python -m pytest" in README and "wfbt run" in README


def test_the_folder_map_names_every_module_of_every_room():
    """README's "How it fits together" is the folder map: each room's row names each of its modules."""
    rows = dict(re.findall(r"^\| `([a-z/]+/)` \| (.+) \|$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M))
    rooms = [*sorted(p for p in (ROOT / "backtest").iterdir() if (p / "__init__.py").is_file()),
             ROOT / "forecasters", ROOT / "strategies"]
    unnamed = {}
    for room in rooms:
        row = rows.get(f"{room.relative_to(ROOT).as_posix()}/", "")
        modules = [p.stem for p in room.glob("*.py") if p.stem != "__init__"]
        missing = [m for m in modules if f"`{m}`" not in row]
        if missing:
            unnamed[room.name] = missing
    assert not unnamed, f"README's folder map does not name these modules: {unnamed}"
