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
    """A guide, not a manual: what wfbt is, the two commands, what the output means, how long things take and
    where to go next, in at most 12 KB; the details live in docs/."""
    assert len(README.encode()) <= 12_000
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings == ["Quick start", "The two commands", "What the output means", "Universe runs",
                        "Where to go next"], headings
    assert "**How long**" in README and "wfbt show RUN" in README


def test_readme_install_and_test_commands_are_the_ones_ci_runs():
    """.ci/run installs and tests exactly as README says (its two commands, after the venv is made)."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = 'pip install "torch==2.13.0" -e ".[dev]"'
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert f"```bash\n{venv}{install} && wfbt run\n```" in README
    assert f"```bash\n{venv}{install} && python -m pytest\n```" in README
    assert "python3 -m venv .venv" in ci and f"python -m {install}" in ci and "\npython -m pytest\n" in ci


def test_every_docs_page_is_reachable_from_the_readme():
    """Moving a paragraph out of README must not hide it: every docs page is reached by links from README."""
    seen, todo = set(), set(re.findall(r"\]\(docs/([\w.-]+\.md)", README))
    while todo:
        page = todo.pop()
        seen.add(page)
        todo |= set(re.findall(r"\]\(([\w.-]+\.md)", (ROOT / "docs" / page).read_text(encoding="utf-8"))) - seen
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert not pages - seen, f"docs pages no link from README reaches: {sorted(pages - seen)}"


def test_the_folder_map_names_every_module_of_every_room():
    """docs/architecture.md's folder map: each room's row names each of its modules."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z/]+/)` \| (.+) \|$", text, re.M))
    rooms = [*sorted(p for p in (ROOT / "backtest").iterdir() if (p / "__init__.py").is_file()),
             ROOT / "forecasters", ROOT / "strategies"]
    unnamed = {}
    for room in rooms:
        row = rows.get(f"{room.relative_to(ROOT).as_posix()}/", "")
        modules = [p.stem for p in room.glob("*.py") if p.stem != "__init__"]
        missing = [m for m in modules if f"`{m}`" not in row]
        if missing:
            unnamed[room.name] = missing
    assert not unnamed, f"docs/architecture.md's folder map does not name these modules (add each): {unnamed}"
