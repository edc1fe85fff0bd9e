"""The single-symbol kind: one symbol's prices forecast by every model, traded by signal strategies."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from backtest.core.config import RunConfig
from backtest.core.kinds import Kind
from backtest.kinds import RunKind
from strategies.signals import BENCHMARK


def _run(config: RunConfig, progress: Any = None, checkpoint: Any = None, resume: bool = False) -> Any:
    from backtest.engine.pipeline import run

    return run(config, progress, checkpoint=checkpoint, resume=resume)


def _published(result: Any, run_dir: Any) -> Any:
    from backtest.report.publish import published_run

    return published_run(result, run_dir)


def _read(run_dir: Any) -> Any:
    from backtest.runs.store import read_run

    return read_run(run_dir)


def _render(summary: Any, console: Console) -> None:
    from backtest.report.console import render

    render(summary, console)


def _checkpoint(run_dir: Any) -> Any:
    from backtest.runs.checkpoint import Checkpoint

    return Checkpoint(run_dir)


def _resuming(checkpoint: Any, config: RunConfig) -> str:
    saved, todo = checkpoint.split(config.forecast.models)
    return (f"loading {', '.join(saved) or 'nothing'} from the interrupted run's checkpoint; training "
            f"{', '.join(todo) or 'nothing'}.")


def _kept(checkpoint: Any) -> list[str]:
    return checkpoint.saved()  # the architectures whose group is saved


def _plan(config: RunConfig) -> Any:
    from backtest.report.plan import single_plan

    return single_plan(config)


def _compare(run_dirs: list[str], strategies: list[str] | None, models: list[str] | None, sort: str, limit: int,
             curves: int, console: Console) -> str:
    """`wfbt compare` of single-symbol runs: what differs, forecast and trading tables, paired tests, an equity
    chart; returns the HTML page."""
    from rich.markup import escape
    from rich.panel import Panel

    from backtest.report import html
    from backtest.report.chart import equity_chart
    from backtest.report.comparison import compare_tables, paired_tables, settings_table, what_differs
    from backtest.runs.compare import compare

    result = compare(run_dirs, strategies, models, sort)
    if result.data_warning:
        console.print(f"[bold red]{escape(result.data_warning)}[/]", highlight=False)
    console.print(settings_table(result), highlight=False)
    console.print(result.note(), highlight=False)
    for table in compare_tables(result, console.width, limit or None):
        console.print(table)
    for table in paired_tables(result, console.width, console):
        console.print(table)
    for sentence in what_differs(result):
        console.print(sentence, highlight=False)
    chosen = result.chart_columns(curves)
    if chosen:
        console.print(Panel(equity_chart(result.equity, chosen, console.width - 4),
                            title="Equity on the common period, rebased to 100", expand=False))
    return html.compare_html(result)


SINGLE = RunKind(kind=Kind.SINGLE, words="a single-symbol run", benchmark=BENCHMARK, run=_run,
                 published=_published, read=_read, render=_render, plan=_plan, compare=_compare,
                 checkpoint=_checkpoint, resuming=_resuming, kept=_kept, sweep_groups=True)
