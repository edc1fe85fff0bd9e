"""equity.png: the run's equity curves and drawdowns as a still picture (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from backtest.core.files import atomic_write_bytes
from backtest.report.html import drawdowns, shown_curves
from backtest.runs.store import RunSummary
from strategies.signals import BENCHMARK


def write_equity_png(summary: RunSummary) -> Path:
    """equity.png: buy-and-hold and the best strategies by Sharpe, with their drawdowns below."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = list(summary.trading.index)
    cols = [c for c in summary.equity.columns if c in shown_curves(list(summary.equity.columns), ranked)]
    cols.sort(key=lambda c: (c != BENCHMARK, ranked.index(c) if c in ranked else 0))
    fig, (ax, ax_dd) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    dd = drawdowns(summary.equity[cols]) * 100
    for c in cols:
        style = {"color": "black", "linewidth": 2.2} if c == BENCHMARK else {"linewidth": 1.1}
        ax.plot(summary.equity.index, summary.equity[c], label=c, **style)
        ax_dd.plot(dd.index, dd[c], **style)
    name = summary.manifest.get("name", summary.run_dir.name)
    ax.set_title(f"wfbt {name}: equity after costs, buy-and-hold and the best strategies by Sharpe", fontsize=10)
    ax.set_ylabel("portfolio value")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax_dd.set_ylabel("drawdown %")
    ax_dd.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    path = summary.run_dir / "equity.png"
    atomic_write_bytes(path, buf.getvalue())
    return path
