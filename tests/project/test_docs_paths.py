"""Every code path the docs name exists: a file path, or a dotted name that imports (config keys such as
``backtest.fees`` and mutmut's mutant names are not code paths and are left alone)."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _is_code(parts: list[str]) -> bool:
    """A code path: three parts or more (``backtest.data.load``), or two that name a package or module here
    (``strategies.signals``; ``backtest.fees`` is a config key)."""
    base = ROOT.joinpath(*parts[:2])
    return len(parts) > 2 or base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 1, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_the_docs_name_files_that_exist():
    missing = [(page.name, path) for page in PAGES
               for path in sorted(set(re.findall(r"`((?:backtest|forecasters|strategies|tests)/[\w/.]+\.\w+)`",
                                                 page.read_text(encoding="utf-8"))))
               if not (ROOT / path.split("::")[0]).exists()]
    assert not missing, missing


def test_the_docs_dotted_names_import():
    names = [(page.name, name) for page in PAGES
             for name in sorted(set(re.findall(r"`((?:backtest|forecasters|strategies)(?:\.\w+)+)",
                                               page.read_text(encoding="utf-8"))))]
    broken = [(page, name) for page, name in names
              if _is_code(name.split(".")) and not name.split(".")[-1].startswith("x_") and not _resolves(name)]
    assert not broken, broken
