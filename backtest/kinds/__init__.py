"""The run kinds' home: what each kind of run (one symbol, a universe) does for every feature.

Each kind is one object (``backtest.kinds.single.SINGLE``, ``backtest.kinds.universe.UNIVERSE``) that says
how a run of that kind runs, is published to its folder, is read back, is shown in the console (and its
report.html, written when it is published), is compared and is planned, and which settings it applies.
Everything else asks ``home(thing)`` for the kind of a config, a result, a summary, a sweep cell or a
manifest, and calls what it needs, instead of asking "is this a universe?" (``tests/project/test_kind_home.py``
fails on a new branch on the kind elsewhere).

The long-term shape chosen here is *two kinds behind one protocol*, not a single symbol as a universe of one:
the single-symbol pipeline forecasts prices and trades them with vectorbt signals (tax, stops, Bollinger,
MACD, the studies' protocol), the universe pipeline ranks scores across stocks into books; they share the
folds, the trainer, the scorers' statistics, the run folder and its manifest, and this protocol, so a feature
is either given to both here or refused by name for one.

Public API (also re-exported by ``backtest``): ``run``, ``write_run``, ``read_run``, ``show``, ``compare``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from backtest.core import scope
from backtest.core.config import RunConfig
from backtest.core.errors import WfbtError
from backtest.core.kinds import Kind, kind_of
from backtest.runs.folder import claim_run_dir, read_manifest, require_complete, start_run_dir


@dataclass(frozen=True)
class RunKind:
    """What one kind of run does for each feature (every field a plain function of that kind)."""

    kind: Kind
    words: str  # how messages name a run of this kind: "a single-symbol run", "a universe run"
    benchmark: str  # the strategy or book every other is tested against
    run: Callable[..., Any]  # (config, progress=None, checkpoint=None, resume=False) -> result, in memory
    published: Callable[[Any, Path], AbstractContextManager[Any]]  # (result, run_dir): write, yield summary, mark
    read: Callable[[str | Path], Any]  # (run_dir) -> the summary show, compare and the pages read
    render: Callable[[Any, Console], None]  # (summary, console): the console summary
    plan: Callable[[RunConfig], tuple[Table, str]]  # (config) -> the fold table and what would be trained
    compare: Callable[..., str]  # (run_dirs, strategies, models, sort, limit, curves, console) -> the HTML page
    checkpoint: Callable[[Path], Any]  # (run_dir) -> the store `wfbt run` saves trained models in as it goes
    resuming: Callable[[Any, RunConfig], str]  # (checkpoint, config) -> what `wfbt run --resume` loads and trains
    kept: Callable[[Any], list[str]]  # (checkpoint) -> what an interrupted run has saved, as its message names it
    sweep_groups: bool  # a sweep trains its networks in the sweep's shared groups (else its cell is one task)

    def applies(self, key: str) -> bool:
        """Whether runs of this kind apply the setting ``key`` (``section.key``); one they do not is refused by
        name when the config is loaded (``backtest.core.scope``, which the config's validation reads)."""
        return scope.applies(key, self.kind.value)


def _kinds() -> dict[Kind, RunKind]:
    from backtest.kinds.single import SINGLE
    from backtest.kinds.universe import UNIVERSE

    return {Kind.SINGLE: SINGLE, Kind.UNIVERSE: UNIVERSE}


def home(thing: Any) -> RunKind:
    """The home of ``thing``'s kind (a config, a result, a summary, a sweep cell, a manifest or a Kind)."""
    return _kinds()[thing if isinstance(thing, Kind) else kind_of(thing)]


def home_of_folder(run_dir: str | Path) -> RunKind:
    """The home of a finished run folder's kind, from its manifest (a RunDirError when it is not finished)."""
    return home(read_manifest(require_complete(run_dir)) or {})


def home_of_folders(run_dirs: list[str]) -> RunKind:
    """The one kind of several finished run folders; a WfbtError naming them when the kinds are mixed."""
    homes = {d: home_of_folder(d) for d in run_dirs}
    kinds = {h.kind for h in homes.values()}
    if len(kinds) == 1:
        return next(iter(homes.values()))
    by_kind = {h.words: [d for d, o in homes.items() if o is h] for h in homes.values()}
    said = " and ".join(f"{', '.join(map(repr, dirs))} {'is' if len(dirs) == 1 else 'are'} {words}"
                        for words, dirs in by_kind.items())
    raise WfbtError(f"{said}: a universe run's scores and books have nothing to line up with one symbol's "
                    "forecasts and strategies. Compare universe runs with universe runs and single-symbol runs "
                    "with single-symbol runs.")


def run_config(config: RunConfig, progress: Any = None, checkpoint: Any = None, resume: bool = False) -> Any:
    """Run ``config`` in memory, whichever its kind; nothing is written (``write_run`` does that)."""
    return home(config).run(config, progress=progress, checkpoint=checkpoint, resume=resume)


def published(result: Any, run_dir: Path) -> AbstractContextManager[Any]:
    """Write every artifact of ``result`` into ``run_dir`` and yield its summary read back; the folder is marked
    complete when the block exits cleanly, never before (``report.publish``)."""
    return home(result).published(result, run_dir)


def write_run(result: Any, out_dir: str | Path | None = None) -> Path:
    """Write ``result`` (from ``run``, either kind) as a finished run folder that `wfbt show` and `compare` read.

    The folder is ``out_dir/<run.name>`` (``out_dir`` defaults to the config's run.out_dir), or ``<name>-2``...
    when that one is taken, as `wfbt run` names them; returns its path.
    """
    config = result.config
    with claim_run_dir(out_dir if out_dir is not None else config.run.out_dir, config.run.name) as folder:
        start_run_dir(folder.path)
        with published(result, folder.path):
            pass
    return folder.path


def read_folder(run_dir: str | Path) -> Any:
    """A finished run folder read back, whichever its kind (a RunDirError says why a folder is not one)."""
    return home_of_folder(run_dir).read(run_dir)


def show_folder(run: Any, console: Console | None = None) -> None:
    """Print a run's console summary: ``run`` is a finished folder or what ``read_run`` returned."""
    summary = read_folder(run) if isinstance(run, (str, Path)) else run
    home(summary).render(summary, console or Console())


def compare_folders(runs: list[str | Path], console: Console | None = None, strategies: list[str] | None = None,
            models: list[str] | None = None, sort: str = "sharpe", limit: int = 20, curves: int = 4) -> str:
    """`wfbt compare` of finished run folders of one kind: prints the tables and returns the HTML page.

    ``strategies`` and ``models`` are glob patterns (books and scorers for universe runs), as the command's
    ``--strategy`` and ``--model``; runs of two kinds are refused by name.
    """
    run_dirs = [str(r) for r in runs]
    return home_of_folders(run_dirs).compare(run_dirs, strategies, models, sort, limit, curves, console or Console())


__all__ = ["RunKind", "compare", "home", "home_of_folder", "home_of_folders", "published", "read_run", "run",
           "show", "write_run"]
