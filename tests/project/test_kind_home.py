"""The run kind has one home: no module outside it branches on "is this a universe?".

The scan reads every module of ``backtest/`` and finds the ways of asking a run's kind: ``universe.enabled``,
``isinstance(..., UniverseResult)`` (or any result or summary class), a manifest's ``"kind"``, the old wrappers
(``is_universe``, ``is_universe_base``, ``refuse_mixed``, ``Cell.universe``) and any comparison with a ``Kind``,
``kind_of(...)`` or a ``.kind``. Each is allowed only in the modules named below, for the reason given; a new
one elsewhere fails this test: ask ``backtest.kinds.home(thing)`` instead.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "backtest"
CLASSES = {"UniverseResult", "RunResult", "UniverseSummary", "RunSummary"}
WRAPPERS = {"is_universe", "is_universe_base", "refuse_mixed"}
ALLOWED = {  # module (relative to backtest/) -> why it may ask the kind itself
    "kinds/": "the home itself (a package: every module in it)",
    "core/kinds.py": "kind_of: the one way to ask",
    "core/config.py": "universe.enabled is a setting: its validation says which settings each kind takes",
    "runs/store.py": "the single-symbol reader refuses a universe folder by name (read_run of the wrong kind)",
    "runs/universe_folder.py": "the universe reader refuses a single-symbol folder by name",
    "sweep/spec.py": "a sweep file's symbols and data keys are read before any cell (and its home) exists",
}


def asks(node: ast.AST) -> str | None:
    """The way ``node`` asks a run's kind, or None."""
    if isinstance(node, ast.Attribute) and node.attr == "enabled" and isinstance(node.value, ast.Attribute) \
            and node.value.attr == "universe":
        return "universe.enabled"
    if isinstance(node, ast.Attribute) and node.attr == "universe" and isinstance(node.value, ast.Name) \
            and node.value.id in {"cell", "c", "spec"}:
        return "cell.universe"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "isinstance" and len(node.args) == 2 and CLASSES & _names(node.args[1]):
            return "isinstance of a result or summary class"
        if node.func.id in WRAPPERS:
            return f"{node.func.id}()"
    if isinstance(node, ast.Subscript) and _is_text(node.slice, "kind"):
        return 'x["kind"]'
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and node.args and _is_text(node.args[0], "kind"):
        return 'x.get("kind")'
    if isinstance(node, ast.Compare) and any(_mentions_kind(part) for part in [node.left, *node.comparators]):
        return "a comparison of kinds"
    return None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _is_text(node: ast.AST, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def _mentions_kind(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and (n.attr == "kind" or (isinstance(n.value, ast.Name)
                                                                   and n.value.id == "Kind")):
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "kind_of":
            return True
    return False


def scan(source: str) -> list[tuple[int, str]]:
    return sorted((node.lineno, way) for node in ast.walk(ast.parse(source)) if (way := asks(node)))


def branch_sites() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        sites = scan(path.read_text(encoding="utf-8"))
        if sites:
            found[path.relative_to(ROOT).as_posix()] = sites
    return found


def test_no_module_outside_the_home_branches_on_the_kind():
    outside = {module: sites for module, sites in branch_sites().items()
               if module not in ALLOWED and not module.startswith("kinds/")}
    assert outside == {}, ("these modules ask a run's kind themselves; ask backtest.kinds.home(thing) for what the "
                           f"kind does instead (or add the module to ALLOWED with its reason): {outside}")


@pytest.mark.parametrize("source", [
    "if cfg.universe.enabled:\n    pass",
    "x = 1 if cell.universe else 2",
    "if isinstance(result, UniverseResult):\n    pass",
    "ok = isinstance(s, (RunSummary, UniverseSummary))",
    "if manifest.get('kind') == 'universe':\n    pass",
    "k = manifest['kind']",
    "if kind_of(config) is Kind.UNIVERSE:\n    pass",
    "if summary.kind == 'single':\n    pass",
    "if is_universe(run_dir):\n    pass",
])
def test_the_scan_finds_each_way_of_asking(source):
    """The guard can fail: each way of asking the kind, written anew, is found."""
    assert scan(source), source


@pytest.mark.parametrize("source", [
    "home(config).run(config)",
    "un = config.universe\nk = un.k",
    "kind: ClassVar[Kind] = Kind.SINGLE",
    "manifest = {'kind': Kind.UNIVERSE.value}",
])
def test_the_scan_leaves_asking_the_home_and_writing_the_kind_alone(source):
    assert scan(source) == []


def test_every_allowed_module_still_needs_its_exception():
    """An exception no longer used is dropped, so the list says where the kind is still asked outside the home."""
    found = branch_sites()
    stale = [m for m in ALLOWED if m != "kinds/" and m not in found]
    assert stale == [], f"no longer ask the kind: remove them from ALLOWED: {stale}"
