"""Publishing a finished run: its data artifacts, then its pictures, then the manifest that marks it whole."""

from __future__ import annotations

from pathlib import Path

from backtest.report import html

from backtest.runs import store
from backtest.core.files import describe
from backtest.engine.pipeline import RunResult
from backtest.runs.store import PICTURES, RunSummary


def write_run(result: RunResult, run_dir: Path, finish: bool = True) -> RunSummary:
    """Write every artifact of ``result``: data first, then report.html and equity.png; the manifest goes last.

    With ``finish=False`` the run is left unfinished: the caller shows the returned summary first and then
    calls ``store.finish_run``, so that a run is never marked complete before its report could be shown.
    """
    manifest = store.write_data(result, run_dir)
    summary = store.load_summary(run_dir, manifest)  # read back: what show, compare and the pages need
    html.write_report(summary)
    html.write_equity_png(summary)
    summary.manifest = {**manifest, "artifacts": {**manifest["artifacts"],
                                                  **{name: describe(run_dir / name) for name in PICTURES}}}
    if finish:
        store.finish_run(summary)
    return summary
