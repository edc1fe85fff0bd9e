"""`wfbt sweep`: a sweep file's cells trained in shared groups on Dask, then its leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from backtest.cli.common import console, err, friendly
from backtest.core.errors import WfbtError


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
