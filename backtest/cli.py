"""The `wfbt` command line: a thin shell over backtest.run and the run folders."""

from __future__ import annotations

import functools
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backtest.errors import WfbtError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Walk-forward backtests of LSTM/GRU forecasts and the strategies built on them.")
console = Console()
err = Console(stderr=True)
DEFAULT_CONFIG = Path("configs/default.toml")

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Print WfbtErrors and data warnings as messages on stderr, with a non-zero exit, not tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from backtest.data import DataWarning

        def show(message: Any, category: Any, *_: Any, **__: Any) -> None:
            err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False)

        with warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except WfbtError as exc:
                err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
                raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _config(path: Path | None, overrides: list[str] | None) -> Any:
    from backtest.config import load_config

    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    return load_config(path, overrides or [])


ConfigArg = Annotated[Path | None, typer.Argument(
    help="TOML config; default: configs/default.toml if present, else built-in defaults.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a key, e.g. --set training.epochs=5 (repeatable).")]


class LiveProgress:
    """Rich progress bars: one per model group, advancing by epoch."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def group_start(self, model: str, members: int, epochs: int) -> None:
        self.tasks[model] = self.progress.add_task(f"{model:<13} {members} models", total=epochs, status="")

    def epoch(self, model: str, epoch: int, live: int, total: int, val_loss: float) -> None:
        self.progress.update(self.tasks[model], completed=epoch,
                             status=f"epoch {epoch}, {live}/{total} training, val loss {val_loss:.4f}")

    def group_end(self, model: str, seconds: float) -> None:
        task = self.tasks[model]
        self.progress.update(task, completed=self.progress.tasks[task].total,
                             status=f"done in {seconds:.1f}s")


def _stop_on_sigterm(*_: Any) -> None:
    """`kill` gets the same clean stop and resume hint as Ctrl-C."""
    raise KeyboardInterrupt


@app.command()
@friendly
def run(
    config: ConfigArg = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for run folders (default run.out_dir).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder of this name.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of this name, "
                                         "keeping the architectures it finished.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary; print the run folder.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Download yfinance/TEJ prices again instead of "
                                          "using the cache (same as --set data.refresh=true).")] = False,
) -> None:
    """Train, backtest and report one walk-forward run."""
    from backtest import artifacts, store
    from backtest.checkpoint import Checkpoint
    from backtest.engine import Progress as NoProgress
    from backtest.engine import run as run_backtest
    from backtest.report import render

    overrides = list(set_ or [])
    if out is not None:
        overrides.append(f"run.out_dir={str(out)!r}")
    if device is not None:
        overrides.append(f"run.device={device!r}")
    if refresh:
        overrides.append("data.refresh=true")
    cfg = _config(config, overrides)
    run_dir = artifacts.choose_run_dir(cfg.run.out_dir, cfg.run.name, force=force, resume=resume)
    resuming = resume and run_dir.is_dir() and not artifacts.is_complete(run_dir)
    artifacts.start_run_dir(run_dir)
    checkpoint = Checkpoint(run_dir)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if quiet:
            result = run_backtest(cfg, NoProgress(), checkpoint=checkpoint, resume=resuming)
        else:
            columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
                       TimeElapsedColumn()]
            with Progress(*columns, console=err, transient=False) as bars:
                result = run_backtest(cfg, LiveProgress(bars), checkpoint=checkpoint, resume=resuming)
        store.write_run(result, run_dir)
    except KeyboardInterrupt:
        saved = sorted(p.name.removesuffix(".folds.csv") for p in (run_dir / "partial").glob("*.folds.csv"))
        err.print(f"[bold red]interrupted:[/] {escape(str(run_dir))} is incomplete and will not be read as a "
                  f"finished run. Saved: {', '.join(saved) or 'no finished architecture yet'}. Continue with the "
                  "same command plus --resume.")
        raise typer.Exit(130) from None
    if quiet:
        console.print(str(run_dir))
    else:
        render(store.read_run(run_dir), console)


@app.command()
@friendly
def show(run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. runs/default.")]) -> None:
    """Print a finished run's summary again from its artifacts, without retraining."""
    from backtest import store
    from backtest.report import render, render_leaderboard

    if (run_dir / "sweep.json").is_file():
        from backtest.leaderboard import read_leaderboard

        render_leaderboard(*read_leaderboard(run_dir), console, run_dir)
        return
    render(store.read_run(run_dir), console)


@app.command()
@friendly
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Finished run folders, e.g. runs/default runs/tsmc_article.")],
    strategy: Annotated[list[str] | None, typer.Option("--strategy", "-s", help="Strategies to keep (glob, "
                        "repeatable), e.g. 'gru*' or '*:forecast'. buy_and_hold is always kept.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Models to keep in the forecast table "
                     "(glob, repeatable). The naive row is always kept.")] = None,
    sort: Annotated[str, typer.Option("--sort", help="sharpe, return, cagr, drawdown, vol, sortino, calmar, "
                                      "trades, rmse, mae, mape, direction or theil_u.")] = "sharpe",
    limit: Annotated[int, typer.Option("--limit", min=0, help="Rows of the trading table to print (0: all).")] = 20,
    curves: Annotated[int, typer.Option("--curves", min=1, help="Equity curves in the terminal chart.")] = 4,
    html_out: Annotated[Path | None, typer.Option("--html", help="Where to write the comparison page "
                        "(default: compare.html beside the first run folder).")] = None,
) -> None:
    """Compare finished runs: forecast and trading tables, an equity chart, and an HTML page."""
    from backtest import html
    from backtest.artifacts import atomic_write_text
    from backtest.compare import compare as compare_runs
    from backtest.report import compare_tables, equity_chart

    result = compare_runs([str(r) for r in runs], strategy, model, sort)
    console.print(result.note(), highlight=False)
    for table in compare_tables(result, console.width, limit or None):
        console.print(table)
    ranked = [f"{r.run}:{r.strategy}" for r in result.trading.itertuples()]
    benches = [c for c in ranked if c.endswith(":buy_and_hold")][:1]
    chosen = benches + [c for c in ranked if c not in benches][:max(0, curves - len(benches))]
    if chosen:
        console.print(Panel(equity_chart(result.equity, chosen, console.width - 4),
                            title="Equity on the common period, rebased to 100", expand=False))
    target = html_out or Path(runs[0]).parent / "compare.html"
    try:
        atomic_write_text(target, html.compare_html(result))
    except OSError as exc:
        raise WfbtError(f"cannot write the comparison page to {str(target)!r} ({exc.strerror or exc}). "
                        "Pass --html PATH in a folder you can write to.") from None
    console.print(f"Comparison page: {target}", highlight=False)


@app.command()
@friendly
def plan(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Print the fold table and how many models a run would train, without training."""
    from backtest.data import load_prices
    from backtest.schedule import folds_table, make_folds

    cfg = _config(config, set_)
    prices = load_prices(cfg.data)
    folds = make_folds(len(prices), cfg.walkforward)
    table = Table(title=f"Walk-forward plan: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()} "
                  f"({cfg.walkforward.window} window)", title_justify="left")
    frame = folds_table(folds, prices.index)
    for col in ["fold", "train", "validation", "test", "rows (train/val/test)"]:
        table.add_column(col, justify="right" if col == "fold" else "left")
    for _, r in frame.iterrows():
        val = f"{r.val_start} → {r.val_end}" if r.val_rows else "—"
        table.add_row(str(r.fold), f"{r.train_start} → {r.train_end}", val, f"{r.test_start} → {r.test_end}",
                      f"{r.train_rows}/{r.val_rows}/{r.test_rows}")
    console.print(table)
    n_models = len(folds) * len(cfg.forecast.models) * cfg.forecast.seeds
    console.print(f"{len(folds)} folds x {len(cfg.forecast.models)} architectures x {cfg.forecast.seeds} seed(s) "
                  f"= [bold]{n_models}[/] models to train, in {len(cfg.forecast.models)} batched groups; "
                  f"out of sample: {frame.test_start.iloc[0]} → {frame.test_end.iloc[-1]}.")


@app.command()
def models() -> None:
    """List the forecaster architectures."""
    from forecasters.registry import ARCHITECTURES

    table = Table(title="Forecasters (input: lookback x features; target: next close)", title_justify="left")
    for col in ["name", "cell", "layers (units)", "dropout", "params (4 features)", "from"]:
        table.add_column(col)
    for a in ARCHITECTURES.values():
        table.add_row(a.name, a.cell.upper(), " → ".join(map(str, a.hidden)), f"{a.dropout}",
                      f"{a.n_params(4):,}", a.source)
    console.print(table)


@app.command()
def strategies() -> None:
    """List the signal rules and their parameters."""
    from backtest.config import StrategiesSection
    from strategies.signals import RULES, STANDALONE

    d = StrategiesSection()
    table = Table(title="Strategies (per model: forecast rules; always: the rest)", title_justify="left")
    table.add_column("name")
    table.add_column("rule")
    for name, text in {**RULES, **STANDALONE}.items():
        table.add_row(name, text)
    console.print(table)
    console.print(
        f"parameters: threshold={d.threshold}, bollinger_window={d.bollinger_window}, bollinger_k={d.bollinger_k}, "
        f"macd=({d.macd_fast}, {d.macd_slow}, {d.macd_signal}), combine={d.combine!r}; set them in [strategies]."
    )


data_app = typer.Typer(no_args_is_help=True, help="Download, cache and inspect price data.")
app.add_typer(data_app, name="data")


def _section(spec: str, start: str | None, end: str | None, adjusted: bool = False, refresh: bool = False) -> Any:
    from backtest.config import DataSection
    from backtest.errors import ConfigError

    source, _, symbol = spec.partition(":")
    if source not in ("sample", "csv", "yfinance", "tej") or not symbol:
        raise ConfigError(f"expected SOURCE:SYMBOL with SOURCE one of sample, csv, yfinance, tej, e.g. "
                          f"yfinance:2330.TW, tej:2330, sample:sp500, csv:prices.csv. Got {spec!r}.")
    if source == "csv":
        return DataSection(source="csv", path=symbol, start=start, end=end)
    return DataSection(source=source, symbol=symbol, start=start, end=end, adjusted=adjusted,  # type: ignore[arg-type]
                       refresh=refresh)


StartOpt = Annotated[str | None, typer.Option("--start", help="First date, e.g. 2019-01-01.")]
EndOpt = Annotated[str | None, typer.Option("--end", help="End date (exclusive).")]


@data_app.command("fetch")
@friendly
def data_fetch(
    spec: Annotated[str, typer.Argument(help="SOURCE:SYMBOL, e.g. yfinance:2330.TW or tej:2330.")],
    start: StartOpt = None, end: EndOpt = None,
    adjusted: Annotated[bool, typer.Option("--adjusted", help="yfinance: dividend-adjusted prices.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Download again even if cached.")] = False,
) -> None:
    """Download (or read from the cache) and check prices; print what was stored."""
    from backtest.data import load_prices
    from backtest.sources import cache_dir, cache_key

    section = _section(spec, start, end, adjusted, refresh)
    prices = load_prices(section)
    where = cache_dir() / f"{cache_key(section)}.csv" if section.source in ("yfinance", "tej") else "not cached"
    console.print(f"{spec}: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}; cache: {where}")


@data_app.command("list")
def data_list() -> None:
    """What is in the download cache: source, symbol, range, rows, size, download time."""
    import json

    from backtest.sources import cache_dir

    table = Table(title=f"Cached prices in {cache_dir()}", title_justify="left")
    for col in ["source:symbol", "range", "adjusted", "rows", "size", "downloaded"]:
        table.add_column(col)
    for meta in sorted(cache_dir().glob("*.json")):
        try:
            rec = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        data = meta.with_suffix(".csv")
        size = f"{data.stat().st_size / 1024:,.0f} KiB" if data.is_file() else "missing"
        table.add_row(f"{rec['source']}:{rec['symbol']}", f"{rec['start'] or 'first'} → {rec['end'] or 'last'}",
                      str(rec.get("adjusted")), str(rec["rows"]), size, rec["downloaded_at"])
    console.print(table)


@data_app.command("show")
@friendly
def data_show(
    spec: Annotated[str, typer.Argument(help="SOURCE:SYMBOL, e.g. sample:sp500 or csv:prices.csv.")],
    start: StartOpt = None, end: EndOpt = None,
) -> None:
    """Head, tail and checks of one price series (warnings show what was fixed)."""
    from backtest.data import load_prices

    prices = load_prices(_section(spec, start, end))
    console.print(f"{spec}: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}, checks passed "
                  "(sorted, unique dates, no NaN, positive prices, open/close within \\[low, high])")
    console.print(prices.head().to_string())
    console.print("...")
    console.print(prices.tail().to_string())


class SweepBars:
    """Rich progress: training groups and cells done."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def start(self, groups: int, cells: int) -> None:
        self.groups = self.bars.add_task("training groups", total=groups, status="")
        self.cells = self.bars.add_task("cells", total=cells, status="")

    def group_done(self, label: str) -> None:
        self.bars.update(self.groups, advance=1, status=f"last: {label}")

    def cell_done(self, cell: Any) -> None:
        self.bars.update(self.cells, advance=1, status=f"last: {cell.name} {cell.status}")


@app.command()
@friendly
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="A sweep TOML: base config, symbols and a grid of settings.")],
    plan_only: Annotated[bool, typer.Option("--plan", help="Print the cells, training groups and model count; "
                                            "train nothing.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the sweep folder (default sweep.out_dir).")]
    = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep: keep finished cells "
                                         "and training groups.")] = False,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Address of an existing Dask scheduler, "
                         "e.g. tcp://HOST:8786 (default $DASK_SCHEDULER_ADDRESS, else a local cluster).")] = None,
) -> None:
    """Run many symbols x settings as ordinary runs, models of one shape trained together, on Dask."""
    import logging

    from backtest import fanout
    from backtest.leaderboard import write_leaderboard
    from backtest.report import render_leaderboard, sweep_plan_table
    from backtest.sweep import load_sweep

    spec = load_sweep(sweep_file)
    plan = fanout.plan_sweep(spec, out or Path(spec.out_dir), resume)
    budget = fanout.sweep_budget(plan, _cores())
    console.print(sweep_plan_table(plan, budget, console.width))
    if plan_only:
        return
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with fanout.dask_client(scheduler, budget, fanout.gpus_for(plan.cells)) as client:
        err.print(f"Dask dashboard: {client.dashboard_link}", highlight=False)
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
        with Progress(*columns, console=err) as bars:
            cells = fanout.run_sweep(plan, client, budget, resume, SweepBars(bars))
    for cell in cells:
        if cell.status == "failed":
            err.print(f"[yellow]cell {escape(cell.name)} failed:[/] {escape(cell.error)}", highlight=False)
    render_leaderboard(*write_leaderboard(plan.root), console, plan.root)


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside a run
        sys.exit(130)
