"""The commands that look without training: `wfbt show`, `compare`, `plan`, `models` and `strategies`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backtest.cli.common import ConfigArg, SetOpt, console, friendly, load_run_config
from backtest.core.config import network_inputs
from backtest.core.errors import WfbtError


@friendly
def show(run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. runs/default.")]) -> None:
    """Print a finished run's summary again from its artifacts, without retraining."""
    from backtest.kinds import show_folder as show_run
    from backtest.report.sweeps import render_leaderboard

    if (run_dir / "sweep.json").is_file():
        from backtest.sweep.leaderboard import read_leaderboard

        render_leaderboard(*read_leaderboard(run_dir), console, run_dir)
        return
    show_run(run_dir, console)


@friendly
def compare_command(
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
    """Compare finished runs: what differs (data, settings), forecast and trading tables, paired tests of run
    against run on the same data, an equity chart, and an HTML page."""
    from backtest.kinds import compare_folders as compare

    page = compare(list(runs), console, strategy, model, sort, limit, curves)
    _write_page(page, html_out or Path(runs[0]).parent / "compare.html")


def _write_page(text: str, target: Path) -> None:
    """compare.html where asked, or a message naming the folder and the --html option."""
    from backtest.core.files import atomic_write_text

    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise WfbtError(f"cannot write the comparison page to {str(target)!r} ({exc.strerror or exc}). "
                        "Pass --html PATH in a folder you can write to.") from None
    console.print(f"Comparison page: {target}", highlight=False)


@friendly
def plan_command(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """Print the fold table and how many models a run would train, without training."""
    from backtest.kinds import home

    cfg = load_run_config(config, set_)
    table, line = home(cfg).plan(cfg)
    console.print(table)
    console.print(line)


@friendly
def models(config: ConfigArg = None, set_: SetOpt = None) -> None:
    """List the forecaster architectures (presets and a config's [networks.NAME]) and the baselines."""
    from forecasters.registry import BASELINES

    cfg = load_run_config(config, set_)
    n = network_inputs(cfg.forecast)
    shape = "1 step x lookback x features (layout flat)" if cfg.forecast.layout == "flat" else "lookback x features"
    table = Table(title=f"Forecasters (input: {shape}; target: next close, or next return)", title_justify="left")
    for col in ["name", "cell", "layers (units)", "dropout", f"params ({n} inputs)", "from"]:
        table.add_column(col, overflow="fold")
    for a in cfg.architectures().values():
        table.add_row(a.name, a.cell.upper(), " → ".join(map(str, a.hidden)), f"{a.dropout}",
                      f"{a.n_params(n):,}", a.source)
    console.print(table)
    baselines = Table(title="Baselines (always in the forecast table; list drift or linear in forecast.models "
                            "to trade them)", title_justify="left")
    baselines.add_column("name")
    baselines.add_column("forecast for tomorrow", overflow="fold")
    for name, text in BASELINES.items():
        baselines.add_row(name, text)
    console.print(baselines)
    console.print(_features_table())


def _features_table() -> Table:
    """The inputs forecast.features takes: the price columns and the derived features, with their warm-up."""
    from strategies.features import FEATURES, IndicatorParams

    table = Table(title="Inputs (forecast.features): open, high, low, close, volume, and derived features, each "
                        "from its row and the rows before it (docs/features.md)", title_justify="left")
    for col in ["name", "what", "reads", "warm-up rows"]:
        table.add_column(col, overflow="fold")
    params = IndicatorParams()
    for f in FEATURES.values():
        if f.example is None:
            warm = f"macd_slow - 1 ({f.warmup(0, params)})"
        else:
            less = f.example - f.warmup(f.example, params)
            warm = f"{'n' if less == 0 else f'n - {less}'} ({f.prefix}_{f.example}: {f.warmup(f.example, params)})"
        table.add_row(f.pattern, f.text, ", ".join(f.inputs), warm)
    table.caption = ("bb_pctb and macd_hist without a number take \\[strategies] bollinger_window, bollinger_k and "
                     "macd_fast, macd_slow, macd_signal")
    return table


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
