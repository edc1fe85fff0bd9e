"""The universe kind: scores across many stocks each day, ranked into books traded with shared cash."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from backtest.core.config import RunConfig
from backtest.core.kinds import Kind
from backtest.kinds import RunKind

BENCHMARK = "equal_weight"  # engine.universe.BENCHMARK, by name: importing the engine here would load torch


def _run(config: RunConfig, progress: Any = None, checkpoint: Any = None, resume: bool = False) -> Any:
    """``engine.universe.run_universe``; ``checkpoint`` is its store of trained chunks of folds."""
    from backtest.engine.universe import run_universe

    return run_universe(config, store=checkpoint, resume=resume, progress=progress)


def _published(result: Any, run_dir: Any) -> Any:
    from backtest.report.publish import published_universe

    return published_universe(result, run_dir)


def _read(run_dir: Any) -> Any:
    from backtest.runs.universe_folder import read_universe

    return read_universe(run_dir)


def _render(summary: Any, console: Console) -> None:
    from backtest.report.console import render_universe

    render_universe(summary, console)


def _checkpoint(run_dir: Any) -> Any:
    from backtest.runs.chunks import ChunkCheckpoint

    return ChunkCheckpoint(run_dir)


def _resuming(checkpoint: Any, config: RunConfig) -> str:
    return "loading the chunks of folds the interrupted run saved, training the rest."


def _kept(checkpoint: Any) -> list[str]:
    return [f"chunk {i}" for i in checkpoint.saved()]  # the chunks of folds saved whole


def _plan(config: RunConfig) -> Any:
    from backtest.report.plan import universe_plan

    return universe_plan(config)


def _compare(run_dirs: list[str], books: list[str] | None, scorers: list[str] | None, sort: str, limit: int,
             curves: int, console: Console) -> str:
    """`wfbt compare` of universe runs: --strategy picks books, --model scorers; IC and trading tables; returns
    the HTML page."""
    from rich.markup import escape

    from backtest.report.comparison import settings_table
    from backtest.report.universe.comparison import (
        universe_compare_html,
        universe_compare_tables,
        universe_paired_tables,
        universe_what_differs,
    )
    from backtest.runs.universe_compare import compare_universes

    result = compare_universes(run_dirs, books, scorers, sort)
    for warning in result.warnings:
        console.print(f"[bold red]{escape(warning)}[/]", highlight=False)
    console.print(settings_table(result), highlight=False)
    console.print(result.note(), highlight=False)
    for table in [*universe_compare_tables(result, console.width, limit or None),
                  *universe_paired_tables(result, console.width, console)]:
        console.print(table)
    for sentence in universe_what_differs(result):
        console.print(sentence, highlight=False)
    return universe_compare_html(result)


UNIVERSE = RunKind(kind=Kind.UNIVERSE, words="a universe run", benchmark=BENCHMARK, run=_run,
                   published=_published, read=_read, render=_render, plan=_plan, compare=_compare,
                   checkpoint=_checkpoint, resuming=_resuming, kept=_kept, sweep_groups=False)
