"""`wfbt sweep`: many symbols x settings as ordinary runs, trained in shared groups, fanned out with Dask.

A sweep file names a base run config, the symbols and a grid of config keys::

    [sweep]
    name = "sweep_example"
    base = "default.toml"                       # relative to this file; [base.<section>] tables override it
    symbols = ["csv:../shared/data/AAPL_daily.csv", "sample:sp500", "yfinance:SPY"]
    # symbols_dir = "../shared/data"            # or every *.csv in a folder (relative to the current directory)
    # (csv paths in symbols and symbols_dir are relative to the current directory, like data.path)

    [grid]
    "forecast.lookback" = [5, 10, 20]
    "training.lr" = [0.001, 0.0003]

A universe sweep is one whose base config has ``[universe] enabled = true``: each cell is a universe
run (``engine.universe.run_universe``) of the base's ``data.path`` (or of each universe file that
``sweep.symbols`` lists as ``csv:path``) at one grid point, e.g. ``"universe.k" = [5, 10]``; its books
are ranked like the strategies of single-symbol cells. Its pooled networks train inside the cell's task
(one Dask task per cell), not in the sweep's shared groups.

Each cell (symbol x grid point) is an ordinary run folder, ``<out>/<sweep>/<cell>/``. Models of the same
shape and training settings from every cell train as one group (each member keeps its own data, seed,
early stopping and best weights, so a cell equals its standalone run to float32 rounding); the groups and
then each cell's backtest are Dask tasks.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from backtest.core.config import SOURCES, RunConfig, from_dict, is_folder_name, read_toml
from backtest.core.errors import ConfigError, DataWarning, WfbtError
from backtest.core.kinds import Kind, kind_of
from backtest.kinds import home

# The [sweep] table's keys and what each does (the settings reference, `wfbt settings sweep`, prints them).
SWEEP_KEYS = {
    "name": "the sweep's folder under out_dir, and its label; default: the sweep file's name without .toml",
    "base": "a run config (path relative to the sweep file) that every cell starts from; [base.<section>] tables "
            "override its keys; default: the built-in run",
    "symbols": "a list of \"source:symbol\" strings, one per symbol: \"sample:sp500\", \"yfinance:SPY\", "
               "\"tej:2330\", \"csv:path/to/file.csv\" (a csv path is relative to the current directory, like "
               "data.path, not to the sweep file)",
    "symbols_dir": "a folder whose every *.csv is one more csv symbol (relative to the current directory, like "
                   "data.path)",
    "out_dir": "where the sweep's folder goes, relative to the current directory; default \"runs\"",
}
OTHER_TABLES = {
    "[base.<section>]": "run config keys that override the base config's, e.g. [base.data] start = 2011-01-01",
    "[grid]": "\"section.key\" = [values]: every combination of the lists, times every symbol, is one cell (one run "
              "folder); data.source/symbol/path and run.name/out_dir are the sweep's to set",
}


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict[str, Any]  # the base run config as parsed TOML
    symbols: list[str]  # "source:symbol", or "csv:path"
    grid: dict[str, list[Any]]  # "section.key" -> values
    out_dir: str = "runs"


def is_universe_base(base: dict[str, Any]) -> bool:
    """A parsed base config whose [universe] is enabled (read before any cell, so before its kind's home)."""
    return kind_of(base) is Kind.UNIVERSE


@dataclass
class Cell:
    name: str  # its run folder's name
    symbol: str
    values: dict[str, Any]  # this cell's grid values
    config: RunConfig
    status: str = "pending"  # pending, done, failed, skipped (finished earlier, on --resume)
    error: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        """The cell's run kind (``backtest.kinds.home(cell)`` says how a sweep runs it)."""
        return kind_of(self.config)


def _symbols(section: dict[str, Any]) -> list[str]:
    symbols = section.get("symbols", [])
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise ConfigError(f"sweep.symbols: expected a list of \"source:symbol\" strings. Got {symbols!r}.")
    if "symbols_dir" in section:
        folder = Path(str(section["symbols_dir"]))
        if not folder.is_dir():
            raise ConfigError(f"sweep.symbols_dir: {str(folder)!r} is not a folder (paths are relative to the "
                              "current directory).")
        symbols = symbols + [f"csv:{p}" for p in sorted(folder.glob("*.csv"))]
    if not symbols:
        raise ConfigError("the sweep has no symbols. Add sweep.symbols = [\"csv:prices.csv\", \"sample:sp500\"] "
                          "or sweep.symbols_dir = \"folder/of/csvs\".")
    for s in symbols:
        source, _, rest = s.partition(":")
        if source not in SOURCES or not rest:
            raise ConfigError(f"sweep.symbols: expected SOURCE:SYMBOL with SOURCE one of {', '.join(SOURCES)}, e.g. "
                              f"csv:prices.csv or yfinance:SPY. Got {s!r}.")
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"sweep.symbols lists a symbol twice. Got {symbols}.")
    return symbols


def _refuse_paths_beside(symbols: list[str], sweep_file: Path) -> None:
    """A csv symbol missing from the current directory but present beside the sweep file: say which is read."""
    for s in symbols:
        source, _, rest = s.partition(":")
        beside = sweep_file.parent / rest
        if source == "csv" and not Path(rest).exists() and beside.is_file() and not Path(rest).is_absolute():
            raise ConfigError(
                f"sweep.symbols: {s!r} is not in the current directory ({Path.cwd()}), but {str(beside)!r} beside the "
                f"sweep file is. Csv paths in sweep.symbols and symbols_dir are relative to the current directory, "
                f"like data.path (only sweep.base is relative to the sweep file): write \"csv:{beside}\", or run "
                "from the sweep file's folder.")


# grid keys that the sweep itself sets per cell
RESERVED = {k: "the sweep's symbols choose the data: list them in sweep.symbols (e.g. \"csv:prices.csv\", "
               "\"yfinance:AAPL\") or sweep.symbols_dir." for k in ("data.source", "data.symbol", "data.path")}
RESERVED["universe.enabled"] = ("a sweep's cells are all universes or all single symbols: set "
                                "[base.universe] enabled = true (or in the base config) instead.")
RESERVED |= {k: "each cell's run folder is named by the sweep (its out_dir/<sweep name>/<cell>); set sweep.name and "
                "sweep.out_dir instead." for k in ("run.name", "run.out_dir")}


def _grid(raw: Any) -> dict[str, list[Any]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"[grid]: expected a table of \"section.key\" = [values]. Got {raw!r}.")
    grid = {}
    for key, values in raw.items():
        if "." not in key:
            raise ConfigError(f"[grid] key {key!r}: expected \"section.key\", e.g. \"forecast.lookback\" = [5, 10].")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[grid] {key}: expected a non-empty list of values. Got {values!r}.")
        if key in RESERVED:
            raise ConfigError(f"[grid] {key}: {RESERVED[key]}")
        seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"[grid] {key} lists a value twice. Got {values!r}. Each value makes cells; name it once "
                              "(repeats would count as extra trials in the deflated Sharpe ratio and PBO).")
        grid[key] = values
    return grid


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file (the cells' configs are checked when the cells are made)."""
    path = Path(path)
    raw = read_toml(path, "sweep file")
    unknown = set(raw) - {"sweep", "grid", "base"}
    if unknown:
        hint = (" This looks like a run config: run it with `wfbt run " + str(path) + "`."
                if "sweep" not in raw and unknown & {"run", "data", "forecast", "walkforward"} else "")
        raise ConfigError(f"sweep file {str(path)!r}: unknown table(s) {sorted(unknown)}. Known: sweep, grid, base."
                          + hint)
    section = raw.get("sweep", {})
    extra = set(section) - SWEEP_KEYS.keys()
    if extra:
        raise ConfigError(f"[sweep] has no key(s) {sorted(extra)}. Known keys: {', '.join(sorted(SWEEP_KEYS))}. "
                          "See `wfbt settings sweep`.")
    base: dict[str, Any] = {}
    if "base" in section:
        if not isinstance(section["base"], str):
            raise ConfigError(f"sweep.base: expected the path of a run config, e.g. \"default.toml\". "
                              f"Got {section['base']!r}.")
        base = read_toml(path.parent / section["base"], "sweep.base config")
    for name, table in raw.get("base", {}).items():  # a [base] table overrides the file, key by key
        if not isinstance(table, dict):
            raise ConfigError(f"[base.{name}]: expected a table of run config keys. Got {table!r}.")
        base[name] = {**base.get(name, {}), **table}
    name = str(section.get("name", path.stem))
    if not is_folder_name(name):
        raise ConfigError(f"sweep.name must be a plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'; "
                          f"at most 100), since the sweep is written to out_dir/<name>. Got {name!r}.")
    symbols = _universe_symbols(section, base) if is_universe_base(base) else _symbols(section)
    if not is_universe_base(base):
        _refuse_paths_beside(symbols, path)
    return SweepSpec(name=name, base=base, symbols=symbols, grid=_grid(raw.get("grid", {})),
                     out_dir=str(section.get("out_dir", "runs")))


def _universe_symbols(section: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """A universe sweep's universes: sweep.symbols' csv:path entries, else the base's data.path."""
    if "symbols_dir" in section:
        raise ConfigError("sweep.symbols_dir lists single-symbol files, but the base config is a universe "
                          "(universe.enabled = true). Drop symbols_dir: the cells run the base's data.path, or "
                          "list universe files as sweep.symbols = [\"csv:universe.csv.gz\"].")
    if "symbols" not in section:
        path = base.get("data", {}).get("path")
        if not isinstance(path, str):
            raise ConfigError("a universe sweep needs its universe: set data.path in the base config (or "
                              "[base.data] path = \"...\"), or sweep.symbols = [\"csv:universe.csv.gz\"].")
        return [f"csv:{path}"]
    symbols = _symbols(section)
    if any(not s.startswith("csv:") for s in symbols):
        raise ConfigError(f"a universe sweep reads universe files: list them as \"csv:path\" (a long file, a "
                          f"wide file or a folder). Got {symbols}.")
    return symbols


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "x"


def symbol_data(symbol: str) -> dict[str, Any]:
    """The [data] keys a symbol string sets: csv:path -> source and path; others -> source and symbol."""
    source, _, rest = symbol.partition(":")
    return {"source": source, "path": rest} if source == "csv" else {"source": source, "symbol": rest}


def _symbol_label(symbol: str) -> str:
    source, _, rest = symbol.partition(":")
    return _slug(Path(rest).stem if source == "csv" else rest)


def _cell_name(symbol: str, values: dict[str, Any]) -> str:
    parts = [_symbol_label(symbol)] + [f"{key.split('.')[-1]}{re.sub(r'[^A-Za-z0-9._-]+', '_', str(v))}"
                                       for key, v in values.items()]
    return "-".join(parts)


def _cell_raw(spec: SweepSpec, symbol: str, values: dict[str, Any], name: str, out: Path) -> dict[str, Any]:
    raw = copy.deepcopy(spec.base)  # deep: a cell's "networks.NAME.key" must not reach the next cell's table
    data = raw.setdefault("data", {})
    for key in ("path", "symbol") if is_universe_base(raw) else ("path", "symbol", "columns"):  # a universe keeps its
        data.pop(key, None)  # column names: every universe file of the sweep is read with the base's
    data.update(symbol_data(symbol))
    for key, value in values.items():
        section, _, leaf = key.partition(".")
        if not isinstance(raw.setdefault(section, {}), dict):
            raise ConfigError(f"[grid] {key}: [{section}] is not a table in the base config.")
        table, leaf = _grid_table(raw[section], section, leaf, key)
        table[leaf] = value
    raw.setdefault("run", {}).update({"name": name, "out_dir": str(out)})
    return raw


def _grid_table(table: dict[str, Any], section: str, leaf: str, key: str) -> tuple[dict[str, Any], str]:
    """Where a grid key's value goes: "networks.NAME.hidden" into the [networks.NAME] table, others as they are."""
    if section != "networks" or "." not in leaf:
        return table, leaf
    name, _, leaf = leaf.partition(".")
    if not isinstance(table.setdefault(name, {}), dict):
        raise ConfigError(f"[grid] {key}: [networks.{name}] is not a table in the base config.")
    return table[name], leaf


def make_cells(spec: SweepSpec, out: Path) -> list[Cell]:
    """Every symbol x grid point as a validated run config; a bad grid value is refused naming its cell."""
    keys = list(spec.grid)
    cells, names = [], set()
    for symbol in spec.symbols:
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            values = dict(zip(keys, combo, strict=True))
            name = _cell_name(symbol, values)
            while name in names:
                name += "_"
            names.add(name)
            try:
                config = from_dict(_cell_raw(spec, symbol, values, name, out))
            except ConfigError as exc:
                raise ConfigError(f"sweep cell {name}: {exc}") from None
            cells.append(Cell(name, symbol, values, config))
    return cells


@dataclass(frozen=True)
class GroupKey:
    """Models that can train as one group: same architecture, window shape and training settings."""

    model: str
    lookback: int
    features: int
    epochs: int
    batch_size: int
    lr: float
    patience: int
    min_delta: float
    device: str
    architecture: Any = None  # forecasters.registry.Architecture: a [networks.NAME] may differ between cells
    # [training]'s optimizer, momentum, loss, shuffle, restore_best, early_stopping; forecast.layout (window shape)
    options: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.model} L{self.lookback} F{self.features} lr{self.lr:g}"


def group_key(config: RunConfig, model: str) -> GroupKey:
    tr, fc = config.training, config.forecast
    options = (tr.optimizer, tr.momentum, tr.loss, tr.shuffle, tr.restore_best, tr.early_stopping, fc.layout)
    return GroupKey(model, fc.lookback, len(fc.features), tr.epochs, tr.batch_size, tr.lr, tr.patience,
                    tr.min_delta, config.run.device, config.architectures()[model], options)


def plan_groups(cells: Iterable[Cell]) -> dict[GroupKey, list[Cell]]:
    """The training groups: every network of every cell, by shape and settings, in cell order."""
    groups: dict[GroupKey, list[Cell]] = {}
    for cell in cells:
        if not home(cell).sweep_groups:  # a universe cell: its pooled networks train in its own task
            continue
        for model in cell.config.forecast.models:
            if model in cell.config.architectures():
                groups.setdefault(group_key(cell.config, model), []).append(cell)
    return groups


def data_key(config: RunConfig) -> tuple[Any, ...]:
    """Cells with equal keys read the same prices: loaded once and shared."""
    d = config.data
    return (d.source, d.symbol if d.source != "csv" else None, d.path, d.start, d.end, d.adjusted, d.adjust, d.table,
            tuple(sorted(d.columns.items())), getattr(d, "date_format", None), getattr(d, "timezone", None))


def load_all_prices(cells: list[Cell]) -> dict[tuple[Any, ...], pd.DataFrame]:
    """Prices of every distinct data section, once each; a cell whose data fails is marked failed."""
    from backtest.data.load import for_close_only, load_prices
    from backtest.engine.forecasting import input_frame
    from backtest.engine.schedule import make_folds

    prices: dict[tuple[Any, ...], pd.DataFrame] = {}
    errors: dict[tuple[Any, ...], str] = {}
    for cell in cells:
        if not home(cell).sweep_groups:  # a universe cell loads and checks its stocks in its own task
            continue
        key = data_key(cell.config)
        if key not in prices and key not in errors:
            try:
                prices[key] = load_prices(cell.config.data)
            except WfbtError as exc:
                errors[key] = str(exc)
        if key in errors:
            cell.status, cell.error = "failed", errors[key]
            continue
        try:  # refused here, before any training, rather than in the cell's training group
            cell.config = for_close_only(cell.config, prices[key])  # a close-only file runs on its close
            folds = make_folds(len(prices[key]), cell.config.walkforward)
            with warnings.catch_warnings():  # its warm-up warning comes again when the cell's windows are cut
                warnings.simplefilter("ignore", DataWarning)
                input_frame(cell.config, prices[key], folds)  # the features, derived ones' warm-up too
        except WfbtError as exc:
            cell.status, cell.error = "failed", str(exc)
    return prices
