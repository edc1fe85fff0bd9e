"""One vectorbt Portfolio over every strategy column, with fees, sell-side tax and slippage.

Every position still open on the last out-of-sample day is sold at that day's close, paying the fee,
slippage and tax a real exit pays, so a final value is cash, not a price on a screen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt

from backtest.core.config import BacktestSection
from backtest.engine.fills import size_options, with_min_fee
from strategies.signals import BENCHMARK, edges


def holdings(states: dict[str, pd.Series], start: int) -> pd.DataFrame:
    """True where a strategy holds the asset over an out-of-sample day (rows ``start`` to the end).

    The position over day t is the one decided at day t-1's close, in both execution modes. On the last
    day only a position held into it counts: one the rule would open there could not be held past that
    day's close, so it is not opened (see ``simulate``).
    """
    held = pd.DataFrame(states).astype(bool).shift(1, fill_value=False).iloc[start:]
    carried = held.iloc[-2] if len(held) > 1 else pd.Series(False, index=held.columns)
    held.iloc[-1] = held.iloc[-1] & carried
    return held


def simulate(prices: pd.DataFrame, states: dict[str, pd.Series], start: int, cfg: BacktestSection
             ) -> vbt.Portfolio:
    """Backtest every state over exactly the out-of-sample rows, ``start`` (the first) to the end.

    ``states`` are indexed by decision day over all of ``prices``. The position over day t is decided at
    day t-1's close; with ``execution = "next_open"`` it is traded at day t's open (the honest default),
    with ``"close"`` at day t-1's close itself, which assumes the signal was known before the close it is
    computed from. Either way the portfolio's rows are the out-of-sample days and each is marked at its
    close.

    On the last day every position still held is sold at that day's close, with fee, slippage and tax,
    buy-and-hold included; a column the rule leaves at that day's open (next_open) or the close before
    (close) has nothing left to sell. A position the rule would open on the last day is not opened: it
    could be held at most until the same day's close, a round trip that measures where the test stops
    rather than the rule (with "next_open" bought at the last open and sold at its close; with "close"
    bought at the close before, so that day's return is given up), and vectorbt fills one order per
    column and day. Staying flat that day uses no price of that day.
    """
    held = holdings(states, start)
    traded = held.copy()
    traded.iloc[-1] = False  # flat after the last close: whatever is held is sold there
    entries, exits = {}, {}
    for col in traded.columns:
        entries[col], exits[col] = edges(traded[col])
    entries_df, exits_df = pd.DataFrame(entries), pd.DataFrame(exits)
    close = prices["close"].iloc[start:]
    fill = (prices["open"] if cfg.execution == "next_open" else prices["close"].shift(1)).iloc[start:]
    price = pd.DataFrame(np.repeat(fill.to_numpy()[:, None], len(held.columns), axis=1),
                         index=held.index, columns=held.columns)
    price.iloc[-1] = np.where(held.iloc[-1], close.iloc[-1], fill.iloc[-1])  # the closing sells: at the close
    fees = cfg.fees + cfg.tax * exits_df.astype(float)  # the tax is charged on sells only

    def run(fees: pd.DataFrame, fixed_fees: pd.DataFrame | float = 0.0) -> vbt.Portfolio:
        return vbt.Portfolio.from_signals(
            close, entries_df, exits_df, price=price, fees=fees, fixed_fees=fixed_fees, slippage=cfg.slippage,
            init_cash=cfg.init_cash, freq="1D", engine=_engine(), **size_options(cfg),
        )

    return with_min_fee(run, fees, cfg) if cfg.min_fee > 0 else run(fees)


def fill_dates(orders: pd.DataFrame, index: pd.DatetimeIndex, closed: pd.Series, execution: str) -> pd.Series:
    """The day each of ``orders`` (strategy, date = its portfolio row, side) was filled.

    With "next_open" that is its row. With "close" an order on row t was filled at day t-1's close (the
    decision day's), except the closing sells of the columns in ``closed`` (True = sold at the last close).
    """
    if execution == "next_open" or orders.empty:
        return orders["date"]
    position = index.get_indexer(pd.DatetimeIndex(orders["date"]))
    closing = (orders["date"] == index[-1]).to_numpy() & orders["strategy"].map(closed).fillna(False).to_numpy(bool)
    return pd.Series(index[np.where(closing, position, position - 1)], index=orders.index, name="date")


def _engine() -> str | None:
    """vectorbt-rust when installed (same results, no ~8 s numba compile per process), else numba."""
    try:
        from vectorbt._engine import is_rust_available
    except ImportError:  # pragma: no cover - older vectorbt
        return None
    return "rust" if is_rust_available() else None


# ---- direction, sizing and stops (strategies.direction, sizing, stop_loss, ...): docs/trading.md ----------------

LEGS = ("long", "short")  # each strategy trades two columns of one cash-sharing group


def held_positions(positions: dict[str, pd.Series], start: int) -> pd.DataFrame:
    """The position (+1 long, -1 short, 0 flat) each strategy holds over each out-of-sample day.

    As ``holdings``: the position over day t is the one decided at day t-1's close; on the last day only a
    position carried into it with the same sign counts (a flip there closes the old side at the open and
    opens nothing).
    """
    held = pd.DataFrame(positions).astype(float).shift(1, fill_value=0.0).iloc[start:]
    carried = held.iloc[-2] if len(held) > 1 else pd.Series(0.0, index=held.columns)
    held.iloc[-1] = held.iloc[-1].where(held.iloc[-1] == carried, 0.0)
    return held


def _leg_signals(traded: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Entries and exits of every (strategy, leg) column: the long leg trades +1, the short leg -1."""
    out: dict[str, dict[tuple[str, str], pd.Series]] = {"long_in": {}, "long_out": {}, "short_in": {}, "short_out": {}}
    none = pd.Series(False, index=traded.index)
    for col in traded.columns:
        up_in, up_out = edges(traded[col] > 0)
        down_in, down_out = edges(traded[col] < 0)
        out["long_in"][(col, "long")], out["long_out"][(col, "long")] = up_in, up_out
        out["long_in"][(col, "short")], out["long_out"][(col, "short")] = none, none
        out["short_in"][(col, "long")], out["short_out"][(col, "long")] = none, none
        out["short_in"][(col, "short")], out["short_out"][(col, "short")] = down_in, down_out
    return {k: pd.DataFrame(v).rename_axis(columns=["strategy", "leg"]) for k, v in out.items()}


def _leg_prices(prices: pd.DataFrame, held: pd.DataFrame, columns: pd.MultiIndex, start: int,
                cfg: BacktestSection) -> dict[str, pd.DataFrame]:
    """Fill, valuation, open, high and low prices per leg column; the short leg's carry the borrow.

    The short leg's prices are the market's times ``(1 + borrow / 252) ** row``, so a short held from one row
    to the next loses that growth, borrow / 252 of its value a day, inside vectorbt's own cash and value (as
    engine.book does). The closing sells of the last day are priced at its close.
    """
    rows = prices.iloc[start:]
    fill = (prices["open"] if cfg.execution == "next_open" else prices["close"].shift(1)).iloc[start:]
    carry = (1.0 + cfg.borrow / 252) ** np.arange(len(rows), dtype=float)
    factor = np.where(columns.get_level_values("leg") == "short", carry[:, None], 1.0)
    sign = np.where(columns.get_level_values("leg") == "short", -1.0, 1.0)
    last = held.iloc[-1].reindex(columns.get_level_values("strategy")).to_numpy() * sign > 0  # sold at the close
    out = {}
    for name, series in (("price", fill), ("close", rows["close"]), ("open", rows["open"]), ("high", rows["high"]),
                         ("low", rows["low"])):
        out[name] = pd.DataFrame(series.to_numpy()[:, None] * factor, index=rows.index, columns=columns)
    out["price"].iloc[-1] = np.where(last, out["close"].iloc[-1], out["price"].iloc[-1])
    return out


def _no_range_on_rule_exits(px: dict[str, pd.DataFrame], exits: pd.DataFrame, closing: np.ndarray) -> None:
    """On a row where a leg's rule exits at the open, its high and low are the open: a stop cannot fire later
    that day on a position already closed (vectorbt checks stops before signals). The last day's closing sells
    keep the day's range: a stop may fire before that close."""
    rule_exit = exits.to_numpy().copy()
    rule_exit[-1] &= ~closing
    for name in ("high", "low"):
        px[name] = px[name].mask(rule_exit, px["open"])


def _call_seq(short_out: pd.DataFrame) -> np.ndarray:
    """Per row and group, the order of the legs: the long leg first, unless the short leg exits that row, so
    the position closed frees its cash before the other side is opened with a share of it."""
    first_short = short_out.xs("short", axis=1, level="leg").to_numpy()
    seq = np.zeros(short_out.shape, dtype=np.int64)
    seq[:, 0::2] = np.where(first_short, 1, 0)
    seq[:, 1::2] = np.where(first_short, 0, 1)
    return seq


def simulate_trader(prices: pd.DataFrame, positions: dict[str, pd.Series], sizes: dict[str, pd.Series],
                    start: int, cfg: BacktestSection, stops: dict[str, float | None]) -> vbt.Portfolio:
    """Backtest +1 / -1 / 0 positions with sizes and stops in one vectorbt ``from_signals`` call.

    Each strategy is a group of two columns sharing its cash, a long leg and a short leg; the rules of
    ``simulate`` hold (decided at t's close, filled at t+1's open, everything sold or covered at the last
    close, nothing opened that day). A position opened on row t takes ``sizes`` of day t-1 as a share of the
    cash (``size_type="percent"``: with nothing else open, of the equity) and keeps its shares until it is
    closed. ``stops`` (``sl_stop``, ``tp_stop``, ``sl_trail``; the benchmark has none) go to vectorbt: checked from the
    day after the entry against each day's open, high and low, the reference the entry's order price
    (``stop_entry_price="price"``), the exit at the stop level, or at the open when the open is already
    through it, less slippage (``stop_exit_price="stopmarket"``), paying fees (and tax on a long's sell).
    """
    held = held_positions(positions, start)
    traded = held.copy()
    traded.iloc[-1] = 0.0
    sig = _leg_signals(traded)
    columns = sig["long_in"].columns
    px = _leg_prices(prices, held, columns, start, cfg)
    sign = np.where(columns.get_level_values("leg") == "short", -1.0, 1.0)
    closing = held.iloc[-1].reindex(columns.get_level_values("strategy")).to_numpy() * sign > 0
    _no_range_on_rule_exits(px, sig["long_out"] | sig["short_out"], closing)
    size = pd.DataFrame(sizes).astype(float).shift(1).iloc[start:]
    size = size.reindex(columns=columns.get_level_values("strategy")).set_axis(columns, axis=1)
    long_leg = np.asarray(columns.get_level_values("leg") == "long")
    sells = sig["short_in"] | (~sig["long_in"] & long_leg)  # a long leg's orders off its entries; a short's entries
    fees = cfg.fees + cfg.tax * sells.astype(float)  # the tax is charged on sells only

    def run(fees: pd.DataFrame, fixed_fees: pd.DataFrame | float = 0.0) -> vbt.Portfolio:
        return vbt.Portfolio.from_signals(
            px["close"], sig["long_in"], sig["long_out"], short_entries=sig["short_in"], short_exits=sig["short_out"],
            size=size.fillna(0.0), size_type="percent", price=px["price"], fees=fees, fixed_fees=fixed_fees,
            slippage=cfg.slippage, open=px["open"], high=px["high"], low=px["low"], stop_entry_price="price",
            stop_exit_price="stopmarket", **_per_column(stops, columns), init_cash=cfg.init_cash, cash_sharing=True,
            group_by="strategy", call_seq=_call_seq(sig["short_out"]), freq="1D", engine=_engine(),
            **size_options(cfg),
        )

    return with_min_fee(run, fees, cfg) if cfg.min_fee > 0 else run(fees)


def _per_column(stops: dict[str, float | None], columns: pd.MultiIndex) -> dict[str, np.ndarray]:
    """The stops as one value per column (a row vectorbt broadcasts); the benchmark's columns have none."""
    bench = np.asarray(columns.get_level_values("strategy") == BENCHMARK)
    return {key: np.where(bench, np.nan if key != "sl_trail" else False, value)[None, :]
            for key, value in stops.items()}


def trader_stops(stop_loss: float | None, take_profit: float | None, trailing_stop: float | None
                 ) -> dict[str, float | None]:
    """vectorbt's stop arguments: ``sl_stop`` from the stop-loss or the trailing stop (``sl_trail``), ``tp_stop``;
    0 or None is off (NaN to vectorbt)."""
    loss = trailing_stop or stop_loss
    return {"sl_stop": float(loss) if loss else np.nan, "sl_trail": bool(trailing_stop),
            "tp_stop": float(take_profit) if take_profit else np.nan}


def held_after_stops(pf: vbt.Portfolio, held: pd.DataFrame) -> pd.DataFrame:
    """Where a strategy held a position over each day (bool), stops included: ``held`` (the rule's) where the
    position carried in from the day before was still open, or was opened that day; a day a stop closes the
    position counts, the days after it until the rule trades again do not."""
    assets = (pf.assets() != 0).T.groupby(level="strategy").any().T.reindex(columns=held.columns)
    carried = assets.shift(1, fill_value=False)
    rec = pf.orders.records
    ordered = np.zeros(held.shape, dtype=bool)
    group_of = np.asarray(pf.wrapper.columns.get_level_values("strategy"))
    where = {name: i for i, name in enumerate(held.columns)}
    ordered[rec["idx"], [where[g] for g in group_of[rec["col"]]]] = True
    return (held != 0) & (carried.to_numpy() | ordered)
