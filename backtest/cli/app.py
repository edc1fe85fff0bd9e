"""The `wfbt` command line: a thin shell over backtest.run and the run folders."""

from __future__ import annotations

import functools
import os
import signal
import sys
import tempfile
import traceback
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

from backtest.core.errors import WfbtError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Walk-forward backtests of LSTM/GRU forecasts and the strategies built on them.")
console = Console()
err = Console(stderr=True)
DEFAULT_CONFIG = Path("configs/default.toml")
DEBUG_ENV = "WFBT_DEBUG"

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    debug = False  # --debug on this invocation


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="On an unexpected error, print the full "
                                                 f"traceback (same as {DEBUG_ENV}=1).")] = False) -> None:
    _State.debug = debug


def _debugging() -> bool:
    return _State.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _unexpected(exc: BaseException, command: str) -> int:
    """Report an exception no check expected: one message, where the traceback is; the exit code."""
    where = ""
    try:
        fd, path = tempfile.mkstemp(prefix="wfbt-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"wfbt {command}: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
        where = f"The full traceback is in {path}; "
    except OSError:
        pass
    err.print(
        f"[bold red]error:[/] wfbt {escape(command)} failed unexpectedly: {escape(type(exc).__name__)}: "
        f"{escape(str(exc))}\nThis is a bug in wfbt or a problem with this machine's environment (memory, disk, "
        f"installed packages), not an input wfbt knows how to check. {escape(where)}`wfbt --debug {escape(command)} "
        f"...` or {DEBUG_ENV}=1 prints the full traceback. Please report it with that traceback.", highlight=False)
    return 1


def friendly(func: F) -> F:
    """Print WfbtErrors and data warnings as messages on stderr, with a non-zero exit, not tracebacks.

    Anything else is a bug or an environment problem: one message and exit code 1 (the traceback goes
    to a file, or to the terminal with --debug / WFBT_DEBUG=1).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from backtest.data.load import DataWarning

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
            except (typer.Exit, typer.Abort, typer.BadParameter):
                raise  # typer's own ways to end a command
            except Exception as exc:
                if _debugging():
                    raise
                raise typer.Exit(_unexpected(exc, func.__name__.replace("_", " "))) from None

    return wrapper  # type: ignore[return-value]


def _config(path: Path | None, overrides: list[str] | None) -> Any:
    from backtest.core.config import load_config

    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    return load_config(path, overrides or [])


ConfigArg = Annotated[Path | None, typer.Argument(
    help="TOML config; default: configs/default.toml if present, else the built-in defaults (the same run).")]
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


def _run_overrides(set_: list[str] | None, out: Path | None, device: str | None, threads: int | None,
                   refresh: bool) -> list[str]:
    """The run command's options as --set overrides, so they go through the config's checks."""
    overrides = list(set_ or [])
    if out is not None:
        overrides.append(f"run.out_dir={str(out)!r}")
    if device is not None:
        overrides.append(f"run.device={device!r}")
    if threads is not None:
        overrides.append(f"run.threads={threads}")
    if refresh:
        overrides.append("data.refresh=true")
    return overrides


def _train(cfg: Any, checkpoint: Any, resuming: bool, quiet: bool) -> Any:
    """backtest.run with live progress bars (or none with --quiet)."""
    from backtest.engine.pipeline import Progress as NoProgress
    from backtest.engine.pipeline import run as run_backtest

    if quiet:
        return run_backtest(cfg, NoProgress(), checkpoint=checkpoint, resume=resuming)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as bars:
        return run_backtest(cfg, LiveProgress(bars), checkpoint=checkpoint, resume=resuming)


def _interrupted(folder: Any, checkpoint: Any) -> typer.Exit:
    """The message for Ctrl-C / kill: what was kept and how to go on."""
    if not folder.started():
        kept = "its new run folder is removed" if folder.created else f"{folder.path} is left as it was"
        err.print(f"[bold red]interrupted:[/] stopped before training started; nothing to keep ({escape(kept)}). "
                  "Run the same command again.")
    else:
        saved = checkpoint.saved()
        err.print(f"[bold red]interrupted:[/] {escape(str(folder.path))} is incomplete and will not be read as a "
                  f"finished run. Saved: {', '.join(saved) or 'no finished architecture yet'}. Continue with the "
                  "same command plus --resume.")
    return typer.Exit(130)


@app.command()
@friendly
def run(
    config: ConfigArg = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for run folders (default run.out_dir).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for training (default: every "
                       "core this process may use; with N runs at once, cores / N each).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run folder of this name.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of this name, "
                                         "keeping the architectures it finished.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary; print the run folder.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Download yfinance/TEJ prices again instead of "
                                          "using the cache (same as --set data.refresh=true).")] = False,
) -> None:
    """Train, backtest and report one walk-forward run."""
    from backtest.report import publish
    from backtest.report.console import render
    from backtest.runs.checkpoint import Checkpoint
    from backtest.runs.folder import claim_run_dir

    cfg = _config(config, _run_overrides(set_, out, device, threads, refresh))
    with claim_run_dir(cfg.run.out_dir, cfg.run.name, force=force, resume=resume) as folder:
        checkpoint = Checkpoint(folder.path)
        if folder.resuming:
            saved, todo = checkpoint.split(cfg.forecast.models)
            err.print(f"resuming {escape(str(folder.path))}: loading {', '.join(saved) or 'nothing'} from the "
                      f"interrupted run's checkpoint; training {', '.join(todo) or 'nothing'}.", highlight=False)
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        try:
            with publish.published(_train(cfg, checkpoint, folder.resuming, quiet), folder.path) as summary:
                if not quiet:
                    render(summary, console)  # complete only once the summary could be shown
        except KeyboardInterrupt:
            raise _interrupted(folder, checkpoint) from None
    if quiet:
        console.print(str(folder.path))


@app.command()
@friendly
def show(run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. runs/default.")]) -> None:
    """Print a finished run's summary again from its artifacts, without retraining."""
    from backtest.report.console import render
    from backtest.report.sweeps import render_leaderboard
    from backtest.runs import store

    if (run_dir / "sweep.json").is_file():
        from backtest.sweep.leaderboard import read_leaderboard

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
    from backtest.core.files import atomic_write_text
    from backtest.report import html
    from backtest.report.chart import equity_chart
    from backtest.report.comparison import compare_tables
    from backtest.runs.compare import compare as compare_runs

    result = compare_runs([str(r) for r in runs], strategy, model, sort)
    console.print(result.note(), highlight=False)
    for table in compare_tables(result, console.width, limit or None):
        console.print(table)
    chosen = result.chart_columns(curves)
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
    from backtest.report.plan import plan as make_plan

    table, line = make_plan(_config(config, set_))
    console.print(table)
    console.print(line)


@app.command()
@friendly
def models() -> None:
    """List the forecaster architectures and the baselines every one of them is tested against."""
    from forecasters.registry import ARCHITECTURES, BASELINES

    table = Table(title="Forecasters (input: lookback x features; target: next close, or next return)",
                  title_justify="left")
    for col in ["name", "cell", "layers (units)", "dropout", "params (4 features)", "from"]:
        table.add_column(col, overflow="fold")
    for a in ARCHITECTURES.values():
        table.add_row(a.name, a.cell.upper(), " → ".join(map(str, a.hidden)), f"{a.dropout}",
                      f"{a.n_params(4):,}", a.source)
    console.print(table)
    baselines = Table(title="Baselines (always in the forecast table; list drift or linear in forecast.models "
                            "to trade them)", title_justify="left")
    baselines.add_column("name")
    baselines.add_column("forecast for tomorrow", overflow="fold")
    for name, text in BASELINES.items():
        baselines.add_row(name, text)
    console.print(baselines)


@app.command()
@friendly
def strategies() -> None:
    """List the signal rules and their parameters."""
    from backtest.core.config import StrategiesSection
    from strategies.signals import RULES, STANDALONE

    d = StrategiesSection()
    table = Table(title="Strategies (per model: forecast rules; always: the rest)", title_justify="left")
    table.add_column("name")
    table.add_column("rule")
    for name, text in {**{k: r.text for k, r in RULES.items()}, **STANDALONE}.items():
        table.add_row(name, text)
    console.print(table)
    console.print(
        f"parameters: threshold={d.threshold}, bollinger_window={d.bollinger_window}, bollinger_k={d.bollinger_k}, "
        f"macd=({d.macd_fast}, {d.macd_slow}, {d.macd_signal}), combine={d.combine!r}; set them in \\[strategies]."
    )


data_app = typer.Typer(no_args_is_help=True, help="Download, cache and inspect price data.")
app.add_typer(data_app, name="data")


def _section(spec: str, start: str | None, end: str | None, adjusted: bool = False, refresh: bool = False) -> Any:
    from backtest.core.config import SOURCES, DataSection
    from backtest.core.errors import ConfigError

    source, _, symbol = spec.partition(":")
    if source not in SOURCES or not symbol:
        raise ConfigError(f"expected SOURCE:SYMBOL with SOURCE one of {', '.join(SOURCES)}, e.g. "
                          f"{', '.join(s.example for s in SOURCES.values() if s.network)}, "
                          f"{', '.join(s.example for s in SOURCES.values() if not s.network)}. Got {spec!r}.")
    if source == "csv":
        return DataSection(source="csv", path=symbol, start=start, end=end)
    return DataSection(source=source, symbol=symbol, start=start, end=end, adjusted=adjusted, refresh=refresh)


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
    from backtest.core.config import SOURCES
    from backtest.data.cache import cache_file
    from backtest.data.load import load_prices

    section = _section(spec, start, end, adjusted, refresh)
    prices = load_prices(section)
    where = cache_file(section) if SOURCES[section.source].network else "not cached"
    console.print(f"{spec}: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}; cache: {where}")


@data_app.command("list")
@friendly
def data_list() -> None:
    """What is in the download cache: source, symbol, range, rows, size, download time."""
    from backtest.data.cache import cache_dir, cached_downloads

    table = Table(title=f"Cached prices in {cache_dir()}", title_justify="left")
    for col in ["source:symbol", "range", "adjusted", "rows", "size", "downloaded"]:
        table.add_column(col)
    for rec in cached_downloads():
        size = f"{rec['bytes'] / 1024:,.0f} KiB" if isinstance(rec["bytes"], int) else "missing"
        table.add_row(f"{rec['source']}:{rec['symbol']}", f"{rec['start'] or 'first'} → {rec['end'] or 'last'}",
                      str(rec["adjusted"]), str(rec["rows"]), size, str(rec["downloaded_at"]))
    console.print(table)


@data_app.command("show")
@friendly
def data_show(
    spec: Annotated[str, typer.Argument(help="SOURCE:SYMBOL, e.g. sample:sp500 or csv:prices.csv.")],
    start: StartOpt = None, end: EndOpt = None,
) -> None:
    """Head, tail and checks of one price series (warnings show what was fixed)."""
    from backtest.data.load import load_prices

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

    from backtest.core.cores import available_cores
    from backtest.report.sweeps import render_leaderboard, sweep_plan_table
    from backtest.sweep import fanout
    from backtest.sweep.leaderboard import write_leaderboard
    from backtest.sweep.spec import load_sweep

    spec = load_sweep(sweep_file)
    plan = fanout.plan_sweep(spec, out or Path(spec.out_dir), resume)
    budget = fanout.sweep_budget(plan, available_cores())
    console.print(sweep_plan_table(
        spec.name, [(c.name, c.status + (f": {c.error}" if c.error else "")) for c in plan.cells],
        [(key.label, len(members)) for key, members in plan.groups.items()], plan.models(),
        budget.workers, budget.threads))
    if plan_only:
        return
    fanout.check_sweep_folder(plan.root, resume)  # before a cluster starts for nothing
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
    if cells and all(c.status == "failed" for c in cells):
        raise WfbtError(f"every cell of sweep {spec.name} failed (above): there is nothing to rank. Fix the symbols or "
                        f"settings the messages name, then run the sweep again with --resume.")
    render_leaderboard(*write_leaderboard(plan.root), console, plan.root)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside a run
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - outside any command (the commands report their own)
        if _debugging():
            raise
        sys.exit(_unexpected(exc, " ".join(sys.argv[1:2]) or "wfbt"))
