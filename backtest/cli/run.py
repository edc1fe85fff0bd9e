"""`wfbt run`: train, backtest and report one walk-forward run, with live progress; Ctrl-C and SIGTERM keep it
resumable."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from backtest.cli.common import ConfigArg, SetOpt, console, err, friendly, load_run_config, say


class LiveProgress:
    """Rich progress bars for either kind of run: one per architecture, advancing by epoch (a universe's bar
    starts again for each chunk of folds it trains), and a universe's folds trained so far with the time left."""

    FOLDS = " folds"  # the task key (no architecture name starts with a space)

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def group_start(self, model: str, members: int, epochs: int) -> None:
        if model in self.tasks:
            self.progress.reset(self.tasks[model], total=epochs, description=f"{model:<13} {members} models",
                                status="")
            return
        self.tasks[model] = self.progress.add_task(f"{model:<13} {members} models", total=epochs, status="")

    def epoch(self, model: str, epoch: int, live: int, total: int, val_loss: float) -> None:
        self.progress.update(self.tasks[model], completed=epoch,
                             status=f"epoch {epoch}, {live}/{total} training, val loss {val_loss:.4f}")

    def group_end(self, model: str, seconds: float) -> None:
        task = self.tasks[model]
        self.progress.update(task, completed=self.progress.tasks[task].total,
                             status=f"done in {seconds:.1f}s")

    def folds(self, done: int, total: int) -> None:
        if self.FOLDS not in self.tasks:
            self.tasks[self.FOLDS] = self.progress.add_task(f"{'folds':<13} {total}", total=total, status="")
        self.progress.update(self.tasks[self.FOLDS], completed=done, status=f"{done}/{total} trained")


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
    """The run in memory, either kind, with live progress bars on a terminal (none with --quiet or piped)."""
    from backtest.kinds import run_config as run

    if quiet or not err.is_terminal:
        return run(cfg, checkpoint=checkpoint, resume=resuming)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=False) as bars:
        return run(cfg, LiveProgress(bars), checkpoint=checkpoint, resume=resuming)


def _interrupted(folder: Any, saved: list[str]) -> typer.Exit:
    """The message for Ctrl-C / kill: what was kept and how to go on (the command whole, on its own line)."""
    from backtest.runs.folder import resume_command

    if not folder.started():
        kept = "its new run folder is removed" if folder.created else f"{folder.path} is left as it was"
        err.print(f"[bold red]interrupted:[/] stopped before training started; nothing to keep ({escape(kept)}). "
                  "Run the same command again.")
    else:
        say(err, "[bold red]interrupted:[/]", f"{folder.path} is incomplete and will not be read as a finished run. "
            f"Saved: {', '.join(saved) or 'nothing finished yet'}. Continue with `{resume_command(folder.path)}`.")
    return typer.Exit(130)


@friendly
def run_command(
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
    from backtest.kinds import home, published
    from backtest.runs.folder import claim_run_dir

    cfg = load_run_config(config, _run_overrides(set_, out, device, threads, refresh))
    kind = home(cfg)
    with claim_run_dir(cfg.run.out_dir, cfg.run.name, force=force, resume=resume) as folder:
        checkpoint = kind.checkpoint(folder.path)  # what each kind saves as it trains (models, chunks of folds)
        if folder.resuming:
            err.print(f"resuming {escape(str(folder.path))}: {kind.resuming(checkpoint, cfg)}", highlight=False)
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        try:
            result = _train(cfg, checkpoint, folder.resuming, quiet)  # a data error here leaves no folder
            with published(result, folder.path) as summary:
                if not quiet:
                    home(summary).render(summary, console)  # complete only once the summary could be shown
        except KeyboardInterrupt:
            raise _interrupted(folder, kind.kept(checkpoint)) from None
    if quiet:
        console.print(str(folder.path), soft_wrap=True, highlight=False)  # one line, for scripts
