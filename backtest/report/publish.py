"""Publishing a finished run: its data artifacts, then its pictures, then the manifest that marks it whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backtest.core.files import describe
from backtest.engine.pipeline import RunResult
from backtest.engine.universe import UniverseResult
from backtest.report import html, png
from backtest.report.universe.page import write_universe_report
from backtest.runs import store
from backtest.runs.store import PICTURES, RunSummary
from backtest.runs.universe import mark_universe_complete, write_universe
from backtest.runs.universe_folder import UNIVERSE_PICTURES, UniverseSummary


@contextmanager
def published_run(result: RunResult, run_dir: Path) -> Iterator[RunSummary]:
    """Write every artifact of a single-symbol ``result`` (data first, then report.html and equity.png) and
    yield its summary; the run is marked complete when the block exits cleanly, never before.

    The one place a run folder becomes complete, for a run (whose block shows the summary first) and a
    sweep's cell alike: an error inside the block leaves the run unfinished, to be resumed.
    ``backtest.kinds.published`` picks this or ``published_universe`` by the result's kind.
    """
    manifest = store.write_data(result, run_dir)
    summary = store.load_summary(run_dir, manifest)  # read back: what show, compare and the pages need
    html.write_report(summary)
    png.write_equity_png(summary)
    summary.manifest = {**manifest, "artifacts": {**manifest["artifacts"],
                                                  **{name: describe(run_dir / name) for name in PICTURES}}}
    yield summary
    store.mark_complete(summary)


@contextmanager
def published_universe(result: UniverseResult, run_dir: Path) -> Iterator[UniverseSummary]:
    """A universe run's ``published_run``: its own files (backtest.runs.universe), then its report.html; marked
    complete the same way."""
    written = write_universe(result, run_dir)
    write_universe_report(written)
    written.manifest = {**written.manifest, "artifacts": {
        **written.manifest["artifacts"], **{name: describe(run_dir / name) for name in UNIVERSE_PICTURES}}}
    yield written
    mark_universe_complete(written)
