"""`wfbt plan`: the folds a config gives and the models a run would train, as a table, without training."""

from __future__ import annotations

from rich.table import Table

from backtest.core.config import RunConfig, network_inputs
from backtest.data.load import load_prices
from backtest.engine.schedule import folds_table, make_folds


def plan(config: RunConfig) -> tuple[Table, str]:
    """The fold table and a one-line count of the models to train (rich markup), for ``config``."""
    prices = load_prices(config.data)
    folds = make_folds(len(prices), config.walkforward)
    frame = folds_table(folds, prices.index)
    kind = "Study plan (one split)" if config.walkforward.protocol == "study" else "Walk-forward plan"
    table = Table(title=f"{kind}: {len(prices)} rows {prices.index[0].date()} → "
                        f"{prices.index[-1].date()} ({config.walkforward.window} window)", title_justify="left")
    for col in ["fold", "train", "validation", "test", "rows"]:
        table.add_column(col, justify="right" if col == "fold" else "left", no_wrap=col == "rows")
    table.caption = "rows: training / validation / test days of each fold"
    for _, r in frame.iterrows():
        val = f"{r.val_start} → {r.val_end}" if r.val_rows else "—"
        table.add_row(str(r.fold), f"{r.train_start} → {r.train_end}", val, f"{r.test_start} → {r.test_end}",
                      f"{r.train_rows}/{r.val_rows}/{r.test_rows}")
    fc = config.forecast
    networks = [m for m in fc.models if m in config.architectures()]
    n_models = len(folds) * len(networks) * fc.seeds
    line = (f"{len(folds)} folds x {len(networks)} architectures x {fc.seeds} seed(s) = [bold]{n_models}[/] models "
            f"to train, in {len(networks)} batched groups; baselines naive, drift and linear fit per fold; "
            f"out of sample: {frame.test_start.iloc[0]} → {frame.test_end.iloc[-1]}. "
            f"Parameters ({network_inputs(fc)} inputs per step): " + ", ".join(
                f"{m} {config.architectures()[m].n_params(network_inputs(fc)):,}" for m in networks) + ".")
    return table, line
