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
from backtest.runs.folder import claim_run_dir, start_run_dir
from backtest.runs.store import PICTURES, RunSummary
from backtest.runs.universe import mark_universe_complete, write_universe
from backtest.runs.universe_folder import UNIVERSE_PICTURES, UniverseSummary


@contextmanager
def published(result: RunResult | UniverseResult, run_dir: Path) -> Iterator[RunSummary | UniverseSummary]:
    """Write every artifact of ``result`` (data first, then report.html and equity.png) and yield its summary;
    the run is marked complete when the block exits cleanly, never before.

    The one place a run folder becomes complete, for a run (whose block shows the summary first) and a
    sweep's cell alike: an error inside the block leaves the run unfinished, to be resumed. A universe run
    (``UniverseResult``) writes its own files (backtest.runs.universe), then its report.html, and is marked
    complete the same way.
    """
    if isinstance(result, UniverseResult):
        written = write_universe(result, run_dir)
        write_universe_report(written)
        written.manifest = {**written.manifest, "artifacts": {
            **written.manifest["artifacts"], **{name: describe(run_dir / name) for name in UNIVERSE_PICTURES}}}
        yield written
        mark_universe_complete(written)
        return
    manifest = store.write_data(result, run_dir)
    summary = store.load_summary(run_dir, manifest)  # read back: what show, compare and the pages need
    html.write_report(summary)
    png.write_equity_png(summary)
    summary.manifest = {**manifest, "artifacts": {**manifest["artifacts"],
                                                  **{name: describe(run_dir / name) for name in PICTURES}}}
    yield summary
    store.mark_complete(summary)


def write_run(result: RunResult, out_dir: str | Path | None = None) -> Path:
    """Write ``result`` (from ``backtest.run``) as a finished run folder that `wfbt show` and `compare` read.

    The folder is ``out_dir/<run.name>`` (``out_dir`` defaults to the config's run.out_dir), or ``<name>-2``...
    when that one is taken, as `wfbt run` names them; returns its path.
    """
    with claim_run_dir(out_dir if out_dir is not None else result.config.run.out_dir,
                       result.config.run.name) as folder:
        start_run_dir(folder.path)
        with published(result, folder.path):
            pass
    return folder.path
