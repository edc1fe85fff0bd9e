"""Run configuration: one frozen, validated dataclass per stage, loaded from TOML.

Every default carries the reason it was chosen. Unknown sections, keys and names are rejected with a
suggestion; ``--set section.key=value`` overrides go through the same type checks as the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from backtest.core.errors import ConfigError, suggest

if typing.TYPE_CHECKING:  # the type only: reading a config loads no part of the forecasters
    from forecasters.registry import Architecture


def _check_timezone(where: str, name: str) -> None:
    """Refuse a time zone name that the IANA database (zoneinfo) does not know."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r}.{suggest(name, zoneinfo.available_timezones())} "
                          "Use an IANA name such as \"Asia/Taipei\" or \"America/New_York\".") from None


@dataclass(frozen=True)
class RunSection:
    name: str = "default"  # folder name under out_dir; an existing finished run is never overwritten
    seed: int = 0  # fixes every random draw: shuffles, dropout masks, weight init
    out_dir: str = "runs"  # where run folders go, relative to the current directory
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = CUDA when torch sees a GPU
    threads: int | None = None  # CPU threads for training; None = the cores this process may use
    # universe runs: the fold chunks fan out over this many Dask worker processes (a local cluster); 1 = in-process
    workers: int = 1
    scheduler: str | None = None  # universe runs: a Dask scheduler's address (tcp://HOST:8786) where the chunks fan out


@dataclass(frozen=True)
class Source:
    """A price source: whether it downloads (through the cache and the bounded retries), and an example."""

    network: bool
    example: str  # as SOURCE:SYMBOL, the form a sweep's symbols and `wfbt data` take


# Every data.source there is, read by the config's check, the sweep's symbols and `wfbt data`; each has a
# reader in backtest.data.load.READERS. A new source is a row here and a reader there.
SOURCES: dict[str, Source] = {
    "sample": Source(False, "sample:sp500"),  # the S&P 500 / NASDAQ samples that ship with `arch`: offline
    "csv": Source(False, "csv:prices.csv"),
    "yfinance": Source(True, "yfinance:2330.TW"),
    "tej": Source(True, "tej:2330"),
}


@dataclass(frozen=True)
class DataSection:
    source: str = "sample"  # one of SOURCES; sample ships with `arch`: offline
    symbol: str = "sp500"  # sample: sp500 | nasdaq; yfinance: ticker; tej: company id (e.g. 2330)
    path: str | None = None  # csv: the file (or a universe's folder) to read; a yfinance/tej universe: its symbol list
    # a universe from yfinance or tej: its tickers or company ids, e.g. ["AAPL", "MSFT"] (or data.path a text file
    # of them, one a line); each downloaded once through the cache and checked with the single-symbol checks
    symbols: list[str] = field(default_factory=list)
    start: str | None = None  # inclusive ISO date; None = from the first row
    end: str | None = None  # exclusive ISO date; None = through the last row
    adjusted: bool = False  # yfinance: False keeps the traded OHLC prices, at which fills happen
    table: str = "TWN/APRCD"  # tej: the datatable the studies used
    refresh: bool = False  # network sources: ignore the cache and download again
    columns: dict[str, str] = field(default_factory=dict)  # csv: explicit {file column: field} mapping
    date_format: str | None = None  # csv: strptime format, e.g. "%d/%m/%Y"; None = detect (ISO, epoch, d/m vs m/d)
    timezone: str | None = None  # exchange's IANA zone, e.g. "Asia/Taipei": zoned timestamps are dated there
    # which prices are traded: none = raw closes, dividends not credited (today's default); adjusted = total return,
    # open/high/low/close scaled by Adj Close / Close (csv: its Adj Close column; yfinance: Yahoo's adjustment);
    # dividends = raw prices with cash dividends credited on the ex-date (no source wfbt reads has them yet: refused)
    adjust: Literal["none", "adjusted", "dividends"] = "none"

    def __post_init__(self) -> None:
        if self.timezone is not None:
            _check_timezone("data.timezone", self.timezone)
        if self.date_format is not None and "%" not in self.date_format:
            raise ConfigError(f"data.date_format: expected a strptime format such as \"%d/%m/%Y\" or "
                              f"\"%Y%m%d\". Got {self.date_format!r}.")


@dataclass(frozen=True)
class WalkForwardSection:
    train_days: int = 756  # ~3 trading years per training window
    test_days: int = 63  # ~1 quarter: how often models are retrained
    val_days: int = 126  # tail of each training window held out for early stopping
    # trading days skipped between training window and test block; None = 0, or horizon - 1 in a universe run
    # whose target looks universe.horizon > 1 days ahead (its last training targets then end where tests begin)
    gap: int | None = None
    # universe runs: days more than the target's horizon by which a fitting sample's target must end before the
    # next set begins (training -> validation, validation -> test); the target's own h days are always purged
    embargo: int = 0
    window: Literal["rolling", "expanding"] = "rolling"  # rolling forgets old regimes
    max_folds: int | None = None  # keep only the last N folds; None = all that fit
    # walkforward = the folds above; study = one chronological split as the studies made it (the days settings
    # above are then unused): the first study_train of the rows fit, the next study_val validate, the last
    # study_test are the one test block (the TSMC article: 0.8 / 0.0 / 0.2; the S&P 500 paper: 0.8 / 0.1 / 0.1)
    protocol: Literal["walkforward", "study"] = "walkforward"
    study_train: float = 0.8  # study protocol: fraction of the rows the models fit on, first in time
    study_val: float = 0.0  # study protocol: fraction after it for validation (early stopping), 0 = none
    study_test: float = 0.2  # study protocol: fraction at the end predicted and scored: the study's reported set


@dataclass(frozen=True)
class ForecastSection:
    # (a universe run: pooled networks, one per fold and seed trained on every stock's windows of lookback returns,
    # naming any also scores the pooled linear model; left out = [], the baselines naive and reversal only)
    models: list[str] = field(
        default_factory=lambda: ["linear", "lstm", "gru", "lstm_stacked", "gru_stacked", "gru3"]
    )  # registry names (`wfbt models`); linear is the Ridge baseline, listed so that strategies trade it too
    lookback: int = 5  # days of features per input window, as in both studies
    # inputs per day, "close" required; "volume" may be added; ["close"] alone for close-only data; derived
    # features such as ret_5, rsi_14, bb_pctb, macd_hist (`wfbt models`, docs/features.md). A universe run
    # leaves it out for ["close"] (the close's returns) and takes the preset "alpha360" too, and any numeric column
    # of its long file or folder's files (a factor you computed, by its lower-cased header), entering at its level
    # (docs/universes.md)
    features: list[str] = field(default_factory=lambda: ["open", "high", "low", "close"])
    # return: each window relative to its last close, target the next return (comparable across price levels);
    # level: scaled price levels, as both studies did (a network cannot extrapolate beyond the training range)
    representation: Literal["return", "level"] = "return"
    scaler: Literal["standard", "minmax"] = "standard"  # fit on each fold's training rows only
    # fold = every scaler fit on the fold's fitting rows (honest); whole_series = fit on every row loaded, test
    # block included, as both studies did: LOOK-AHEAD, allowed only with walkforward.protocol = "study" and
    # flagged in the console, report.html and metrics.json
    scaler_fit: Literal["fold", "whole_series"] = "fold"
    # sequence = each window as lookback time steps of len(features) inputs; flat = one time step whose inputs
    # are the lookback days x features (the S&P 500 paper's 39,201-parameter GRU reads 5 closes so)
    layout: Literal["sequence", "flat"] = "sequence"
    seeds: int = 1  # models per fold and architecture; predictions are their mean


def network_inputs(fc: ForecastSection) -> int:
    """The inputs a network's first layer reads per time step: the features, or (layout flat) the lookback days
    of every feature, as the S&P 500 paper's Keras GRU read its 5 closes."""
    return len(fc.features) * (fc.lookback if fc.layout == "flat" else 1)


@dataclass(frozen=True)
class TrainingSection:
    epochs: int = 30  # cap; early stopping usually ends sooner
    batch_size: int = 32  # the studies' batch size
    lr: float = 1e-3  # Adam's default, as in both studies
    patience: int = 5  # epochs without validation improvement before a member stops
    min_delta: float = 0.0  # improvement smaller than this does not reset patience
    # adam | rmsprop | sgd, each with torch.optim's defaults (rmsprop: alpha 0.99, eps 1e-8, as torch, not Keras)
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    momentum: float = 0.0  # sgd only: torch.optim.SGD's momentum in [0, 1); 0 = plain SGD
    # on the scaled targets: mse | mae | huber (torch's HuberLoss, delta 1.0) | bce (the output as a logit, for the
    # universe's 0/1 above_median target); early stopping and the best epoch are judged by the same loss
    loss: Literal["mse", "mae", "huber", "bce"] = "mse"
    shuffle: bool = True  # false = each epoch's batches in date order, as the TEJ article's DataLoader(shuffle=False)
    restore_best: bool = True  # false = keep the last epoch's weights (as both studies did), not the best epoch's
    early_stopping: bool = True  # false = train all `epochs` (patience then plays no part)


@dataclass(frozen=True)
class NetworkSection:
    """A custom architecture, [networks.NAME]: NAME may then appear in forecast.models (either kind of run)."""

    cell: Literal["lstm", "gru"] = "lstm"  # the recurrent cell of every layer
    hidden: list[int] = field(default_factory=lambda: [64])  # units per layer, first to last: 1 to 4 layers
    dropout: float = 0.2  # in [0, 1): after every layer, as the presets


@dataclass(frozen=True)
class StrategiesSection:
    threshold: float = 0.0  # forecast rule: long when predicted close > close * (1 + threshold)
    bollinger_window: int = 20  # days of the Bollinger Bands' moving average and standard deviation
    bollinger_k: float = 2.0  # band width in standard deviations: enter below the lower band, exit above the middle
    macd_fast: int = 12  # MACD fast EMA span in days (below macd_slow)
    macd_slow: int = 26  # MACD slow EMA span in days
    macd_signal: int = 9  # MACD signal-line EMA span in days: long while MACD is above it
    combine: Literal["all", "any"] = "all"  # how forecast+bollinger / forecast+macd join
    # (a universe run: the rules on every stock, the held stocks sharing one book at equal weights, one book per
    # scorer with a forecast, and bollinger and macd may be named as books of their own; left out = forecast, vote)
    rules: list[str] = field(
        default_factory=lambda: ["forecast", "forecast+bollinger", "forecast+macd", "vote"]
    )  # per-model rules; bollinger, macd and buy-and-hold always run
    # direction: long = today's rules; short = their mirrors (docs/trading.md); both = long when the long rule
    # says so, short when the short rule does, flat when both or neither. buy_and_hold always stays long.
    direction: Literal["long", "short", "both"] = "long"  # long | short | both: the side every rule trades
    # sizing: the share of equity a new position takes, decided at its decision close, held until it is closed
    sizing: Literal["all_in", "fixed", "vol_target", "forecast", "agreement"] = "all_in"  # all_in = 1 (today)
    fraction: float = 0.5  # sizing = "fixed": share of equity per position, in (0, 1]
    target_vol: float = 0.10  # sizing = "vol_target": annual volatility aimed at (0.10 = 10 %), daily std x sqrt(252)
    vol_window: int = 20  # vol_target and forecast sizing: trailing days of returns or forecast errors, >= 2
    max_leverage: float = 1.0  # cap on every size, in (0, 1]: vectorbt 1.2's from_signals lends no cash for longs
    stop_loss: float | None = None  # exit at this loss from the entry price (0.05 = 5 %); None or 0 = off
    take_profit: float | None = None  # exit at this gain from the entry price (0.10 = 10 %); None or 0 = off
    trailing_stop: float | None = None  # exit this far below the best high since entry (above the low, short); 0 = off


@dataclass(frozen=True)
class BacktestSection:
    init_cash: float = 100_000.0  # starting cash of every strategy, in the prices' currency
    fees: float = 0.001  # per side, fraction of traded value (Taiwan brokers: 0.001425)
    tax: float = 0.0  # sell side only (Taiwan securities transaction tax: 0.003)
    slippage: float = 0.0005  # fraction of price paid against us on every fill
    execution: Literal["next_open", "close"] = "next_open"  # close = same-bar fill, flagged
    risk_free: float = 0.0  # yearly risk-free rate (0.02 = 2 %), compounded daily; Sharpe, Sortino, PSR, DSR over it
    whole_shares: bool = False  # true = every fill a whole number of lot_size shares (rounded down); false = fractional
    lot_size: int = 1  # shares per lot when whole_shares (Taiwan: 1000); vectorbt's size_granularity
    min_fee: float = 0.0  # floor on each fill's commission, in cash (0 = none); fees below it are raised to it
    borrow: float = 0.005  # yearly rate on shorts, borrow / 252 of the short's value a day; ~50 bp general collateral


@dataclass(frozen=True)
class StatisticsSection:
    significance: float = 0.05  # a model or strategy is called better (or worse) only below this p-value
    bootstrap_reps: int = 1000  # SPA and MCS bootstrap replications (seeded with run.seed)
    mcs_size: float = 0.10  # the model confidence set holds the best model with probability 1 - mcs_size
    pbo_blocks: int = 16  # CSCV blocks for the probability of backtest overfitting (even, >= 4)


UNIVERSE_BOOKS = ("long_short", "long_only", "topk_dropout")  # strategies.crosssection's books, by config name


@dataclass(frozen=True)
class UniverseSection:
    """A run over many stocks (data.path is a universe: long file, wide close-only file or a folder)."""

    enabled: bool = False  # false = the single-symbol run; true = many stocks (data.path, or data.symbols)
    layout: Literal["auto", "long", "wide", "folder"] = "auto"  # auto: a folder, else long if a symbol column
    symbol_column: str | None = None  # the long file's symbol header; None detects Name, symbol, ticker, ...
    min_symbols: int = 20  # fewer stocks passing the checks is refused: a cross-section of a handful ranks noise
    k: int = 10  # names per leg: Fischer & Krauss (2018) went long the top 10 and short the flop 10
    # long_short's share of the book's value in each leg, in (0, 1]: 0.5 = half long, half short (gross 1, the
    # return half the legs' difference); 1.0 = each leg a full unit financed by the short proceeds (gross 2,
    # Fischer & Krauss's accounting: the return is the long leg's mean minus the short leg's)
    leg_gross: float = 0.5
    n_drop: int = 2  # TopkDropout: most names replaced a day (Qlib's 5 of 50 is a tenth; 2 of 10 keeps turnover low)
    books: list[str] = field(default_factory=lambda: list(UNIVERSE_BOOKS))  # books per scorer, all by default
    # what the pooled networks learn, over the next universe.horizon days: return = the return (Qlib's label);
    # rank = its rank within the day in [-1, 1]; zscore = its z-score within the day; above_median = 1 if it beats
    # the day's median, else 0 (Fischer & Krauss's classification target)
    target: Literal["return", "rank", "zscore", "above_median"] = "return"
    # days the target looks ahead, 1 to 20; training windows whose target reaches past a fold's training rows are
    # dropped (purged), and walkforward.gap defaults to horizon - 1
    horizon: int = 1
    networks: Literal["pooled", "per_symbol"] = "pooled"  # one network per fold on every stock, or one per stock
    memory_gb: float = 2.0  # GiB the pooled windows and training of a chunk of folds may plan: the rest of a run of
    # 505 stocks takes ~1.2 GB, so the whole stays under 4 GB; folds beyond it train chunk after chunk
    # applied in order to the pooled windows after their scaling: fitted on the fold's training windows
    # (robust_zscore, clip) or within each day's cross-section (cs_rank, cs_rank01, cs_zscore, fill_median,
    # fill_zero; a fill keeps windows with a missing input and fills it); [] = none (docs/universes.md)
    processors: list[str] = field(default_factory=list)
    # applied in order to the return target's labels within each day (qlib ranks its label per day): cs_rank = the
    # label's rank among the day's samples in [-1, 1], cs_zscore = its z-score among them; the forecasts are then in
    # those units. Only with target = "return"; fitted processors, fills and cs_rank01 are refused; [] = none
    target_processors: list[str] = field(default_factory=list)
    # books trade after every rebalance-th out-of-sample day (1 = daily, 5 ~ weekly, 21 ~ monthly), holding their
    # weights in between as held positions do (drifting with prices); the first day always trades
    rebalance: int = 1
    # or on a calendar instead: days = every universe.rebalance days; monday .. friday = each week's last day on or
    # before that weekday; month_end = each month's last day. TopkDropout drops at most n_drop names a rebalance
    rebalance_on: Literal["days", "monday", "tuesday", "wednesday", "thursday", "friday", "month_end"] = "days"
    # a CSV of symbol -> group (e.g. ../shared/data/groups/sp500_sectors.csv: GICS sectors): the IC within each
    # group in metrics.json, and group-neutral books with universe.neutral; None = no groups
    groups: str | None = None
    # with groups: none = books rank the whole cross-section; within = long_short and long_only take the top (and
    # bottom) k of each group, the groups weighing equally; demean = scores minus their group's mean each day, then
    # ranked as usual (every book). Stocks without a group are left out of neutral books
    neutral: Literal["none", "within", "demean"] = "none"


@dataclass(frozen=True)
class RunConfig:
    run: RunSection = field(default_factory=RunSection)
    # The built-in run is configs/default.toml's: the sample's last 8 years (20 folds), not all 20 years.
    data: DataSection = field(default_factory=lambda: DataSection(start="2011-01-01"))
    walkforward: WalkForwardSection = field(default_factory=WalkForwardSection)
    forecast: ForecastSection = field(default_factory=ForecastSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    strategies: StrategiesSection = field(default_factory=StrategiesSection)
    backtest: BacktestSection = field(default_factory=BacktestSection)
    statistics: StatisticsSection = field(default_factory=StatisticsSection)
    universe: UniverseSection = field(default_factory=UniverseSection)
    networks: dict[str, NetworkSection] = field(default_factory=dict)  # [networks.NAME] tables: custom architectures

    def __post_init__(self) -> None:
        if self.walkforward.gap is None:  # resolved once, so every reader sees a number
            object.__setattr__(self, "walkforward", dataclasses.replace(self.walkforward, gap=default_gap(self)))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every section as plain data; [universe] only in a universe run and [networks] only when it names one,
        so files without them stay as they were."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if (f.name != "universe" or self.universe.enabled) and (f.name != "networks" or self.networks)}

    def architectures(self) -> dict[str, Architecture]:
        """Every architecture a model name may stand for: forecasters.registry's presets and this run's networks."""
        from forecasters.registry import architectures, custom

        return architectures(custom(name, n.cell, n.hidden, n.dropout) for name, n in self.networks.items())


def default_gap(config: RunConfig) -> int:
    """walkforward.gap when the file leaves it out: horizon - 1 in a universe run, else 0."""
    return config.universe.horizon - 1 if config.universe.enabled and config.universe.horizon > 1 else 0


def _plain(section: Any) -> dict[str, Any]:
    """A section (or the networks' table of sections) as plain data."""
    if isinstance(section, dict):
        return {name: dataclasses.asdict(value) for name, value in section.items()}
    return dataclasses.asdict(section)


_SECTION_TYPES = {f.name: typing.get_type_hints(RunConfig)[f.name] for f in dataclasses.fields(RunConfig)
                  if f.name != "networks"}


# The built-in run's sections as their fields make them (before RunConfig resolves walkforward.gap).
_SECTION_DEFAULTS = {f.name: f.default_factory for f in dataclasses.fields(RunConfig) if f.name != "networks"}

DATE_KEYS = ("data.start", "data.end")


def _shown(value: Any) -> str:
    """A value as the user wrote it in TOML, not as Python's repr (datetime.time(10, 0) -> 10:00:00)."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _text_kind(where: str) -> str:
    return "a date such as 2016-01-01" if where in DATE_KEYS else "a string"


def _quote_hint(where: str, value: Any) -> str:
    """How to write the value right: a date for the date keys; quotes for a number meant as text."""
    key = where.rpartition(".")[2]
    if where in DATE_KEYS:
        return f" Write {key} = 2016-01-01 (a full date)."
    if isinstance(value, int | float) and not isinstance(value, bool) and not where.endswith("]"):
        return f' Quote it: {key} = "{value}".'
    return ""


def _check_value(where: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` or raise ConfigError naming ``where``."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(where, value, inner[0])
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(
                f"{where}: expected one of {', '.join(map(repr, choices))}. Got {value!r}."
                + (suggest(str(value), map(str, choices)))
            )
        return value
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(value, list):
            hint = (f""" Quote each item and the whole setting for the shell: --set "{where}=['a', 'b']"."""
                    if isinstance(value, str) and value.startswith("[") else "")
            raise ConfigError(f"{where}: expected a list of {item.__name__}. Got {_shown(value)}.{hint}")
        return [_check_value(f"{where}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{where}: expected a table of strings, e.g. {{Date = \"date\"}}. Got {value!r}.")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false. Got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer. Got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number. Got {value!r}.")
        if not math.isfinite(value):  # TOML reads nan and inf as numbers; no setting means either
            raise ConfigError(f"{where}: expected a finite number. Got {value!r}. Write a number such as the "
                              f"default, {default_of(where)!r}.")
        return float(value)
    if tp is str:
        if isinstance(value, datetime.date):  # TOML reads 2019-01-01 as a date
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected {_text_kind(where)}. Got {_shown(value)}.{_quote_hint(where, value)}")
        return value
    raise TypeError(f"unsupported config type {tp!r}")  # pragma: no cover - programming error


def default_of(where: str) -> Any:
    """The built-in default of ``section.key`` (for messages, and for a setting a newer wfbt added)."""
    section, _, key = where.partition(".")
    return getattr(getattr(RunConfig(), section), key.split("[")[0], None)


def _build_networks(raw: Any) -> dict[str, NetworkSection]:
    """The [networks.NAME] tables, each checked as a section of its own (keys, types; ranges in validate)."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"[networks]: expected one table per network, e.g. [networks.small] with cell = \"gru\", "
                          f"hidden = [32, 16], dropout = 0.1. Got {raw!r}.")
    hints = typing.get_type_hints(NetworkSection)
    out = {}
    for name, table in raw.items():
        for key in table:
            if key not in hints:
                raise ConfigError(f"[networks.{name}] has no key {key!r}.{suggest(key, hints)} "
                                  f"Known keys: {', '.join(hints)}.")
        out[name] = NetworkSection(**{k: _check_value(f"networks.{name}.{k}", v, hints[k]) for k, v in table.items()})
    return out


def _build_section(name: str, raw: Any) -> Any:
    if name == "networks":
        return _build_networks(raw)
    cls = _SECTION_TYPES[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}]: expected a table. Got {raw!r}.")
    hints = typing.get_type_hints(cls)
    for key in raw:
        if f"{name}.{key}" in MOVED:
            new = MOVED[f"{name}.{key}"]
            raise ConfigError(f"{name}.{key} is now {new}, one key for both kinds of run. Write {new.split('.')[1]} "
                              f"under [{new.split('.')[0]}] (or --set {new}=...) instead.")
        if key not in hints:
            raise ConfigError(
                f"[{name}] has no key {key!r}.{suggest(key, hints)} "
                f"Known keys: {', '.join(hints)}."
            )
    values = {key: _check_value(f"{name}.{key}", value, hints[key]) for key, value in raw.items()}
    # Keys a file leaves out keep the built-in run's values, so `wfbt run` with no file is the same run.
    return dataclasses.replace(_SECTION_DEFAULTS[name](), **values)


def from_dict(raw: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from a parsed TOML document."""
    for name in raw:
        if name not in _SECTION_TYPES and name != "networks":
            sweep = (" A file with [sweep] and [grid] tables is a sweep: run it with `wfbt sweep FILE`."
                     if name in ("sweep", "grid") else "")
            raise ConfigError(
                f"unknown section [{name}].{suggest(name, _SECTION_TYPES)} "
                f"Known sections: {', '.join([*_SECTION_TYPES, 'networks'])}.{sweep}"
            )
    config = _kind_defaults(RunConfig(**{name: _build_section(name, value) for name, value in raw.items()}), raw)
    validate(config)
    return config


# one key per idea for both kinds of run: where a universe's own keys went
MOVED = {"universe.models": "forecast.models", "universe.rules": "strategies.rules",
         "universe.borrow": "backtest.borrow"}
# a universe run's defaults where they differ from a single symbol's (the baselines only; two rule books)
UNIVERSE_DEFAULTS = {"forecast.models": [], "strategies.rules": ["forecast", "vote"]}  # and UNIVERSE_FEATURES


def _kind_defaults(config: RunConfig, raw: dict[str, Any]) -> RunConfig:
    """A universe config's forecast.models, strategies.rules and features, where the file leaves them out."""
    if not config.universe.enabled:
        return config
    for key, value in {**UNIVERSE_DEFAULTS, "forecast.features": UNIVERSE_FEATURES}.items():
        section, _, name = key.partition(".")
        if name not in (raw.get(section) or {}):
            config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section),
                                                                                 **{name: list(value)})})
    return config


def _is_text_key(section: str, key: str) -> bool:
    """Whether ``section.key`` holds a string (or an optional one), so a bare literal is meant as text."""
    cls = _SECTION_TYPES.get(section)
    tp = typing.get_type_hints(cls).get(key) if cls is not None else None
    return tp is str or (get_origin(tp) in (typing.Union, types.UnionType) and str in get_args(tp))


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``section.key=value``; the value is read as TOML, falling back to a bare string.

    For a string-typed key, a literal that TOML reads as a number or boolean is kept as the text typed:
    the shell strips quotes, so ``--set data.symbol=2330`` means the company id "2330", not an integer.
    """
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set expects section.key=value, e.g. training.epochs=5. Got {text!r}.")
    path, literal = text.split("=", 1)
    section, key = path.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {literal.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = literal.strip()
    if isinstance(value, int | float) and _is_text_key(section, key):  # bool is an int too
        value = literal.strip()
    return section, key, value


def read_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    """A TOML file's tables, or a ConfigError naming what is wrong with the file (``what`` names it)."""
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a folder. Pass a path to a .toml file, e.g. "
                          "configs/default.toml.")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist. Pass a path to a .toml file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc}). "
                          "Check its permissions.") from None
    try:
        text = data.decode("utf-8-sig")  # Notepad's byte-order mark is no part of the TOML
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} {str(path)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}), which "
            "TOML requires. Save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 OLD > NEW`."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {str(path)!r} is not valid TOML: {exc}.") from None


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Read a TOML config (None = built-in defaults) and apply ``section.key=value`` overrides."""
    raw: dict[str, Any] = {} if path is None else read_toml(Path(path))
    for text in overrides:
        section, key, value = parse_override(text)
        if not isinstance(raw.setdefault(section, {}), dict):
            raise ConfigError(f"[{section}] in the config file is not a table.")
        if section == "networks" and "." in key:  # --set networks.NAME.hidden=[32, 16]
            name, key = key.split(".", 1)
            if not isinstance(raw[section].setdefault(name, {}), dict):
                raise ConfigError(f"[networks.{name}] in the config file is not a table.")
            raw[section][name][key] = value
            continue
        raw[section][key] = value
    return from_dict(raw)


def _require_known(where: str, kind: str, names: list[str], known: typing.Iterable[str], see: str = "") -> None:
    known = list(known)
    for name in names:
        if name not in known:
            raise ConfigError(f"{where}: unknown {kind} {name!r}.{suggest(name, known)} "
                              f"Known {kind}s: {', '.join(known)}{see}.")


RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def is_folder_name(name: str) -> bool:
    """A plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'; at most 100): it stays one folder."""
    return bool(RUN_NAME.fullmatch(name)) and name not in (".", "..") and len(name) <= 100


def _check_run(run: RunSection) -> None:
    """The run's folder name stays one plain folder inside out_dir; threads are a positive count."""
    if len(run.name) > 100:
        raise ConfigError(f"run.name is {len(run.name)} characters long; keep it to 100 or fewer (it names a folder). "
                          f"Got {run.name[:40]!r}...")
    if not is_folder_name(run.name):
        raise ConfigError(
            f"run.name must be a plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'), since the run "
            f"is written to out_dir/<name>. Got {run.name!r}. Pick a name like 'tsmc-2024' and choose the folder "
            "with --out."
        )
    if not 0 <= run.seed < 2**32:
        raise ConfigError(f"run.seed must be a whole number from 0 to 4294967295 (2**32 - 1), e.g. 0. Got {run.seed}.")
    if "\0" in run.out_dir:
        raise ConfigError(f"run.out_dir: a folder path cannot contain a NUL character. Got {run.out_dir!r}.")
    if run.threads is not None and not 1 <= run.threads <= 1024:
        raise ConfigError(f"run.threads must be between 1 and 1024, or left out to use every core this process "
                          f"may use. Got {run.threads}.")
    if not 1 <= run.workers <= 1024:
        raise ConfigError(f"run.workers must be between 1 and 1024 Dask worker processes (1 trains in this process). "
                          f"Got {run.workers}.")
    if run.scheduler is not None and "://" not in run.scheduler:
        raise ConfigError(f"run.scheduler must be a Dask scheduler address such as \"tcp://HOST:8786\". "
                          f"Got {run.scheduler!r}.")


def _check_ranges(config: RunConfig) -> None:
    """Numbers that are of the right type but outside what the setting can mean."""
    tr, st, bt = config.training, config.strategies, config.backtest
    checks = [  # (field, value, ok, what the range is)
        ("training.lr", tr.lr, 0 < tr.lr <= 1, "a learning rate in (0, 1], e.g. 0.001"),
        ("training.min_delta", tr.min_delta, tr.min_delta >= 0, "a loss improvement >= 0, e.g. 0.0"),
        ("strategies.threshold", st.threshold, -1 < st.threshold < 1,
         "a fraction of the close in (-1, 1), e.g. 0.002 for 0.2 %"),
        ("strategies.bollinger_k", st.bollinger_k, 0 < st.bollinger_k <= 10,
         "a band width in standard deviations, in (0, 10], e.g. 2.0"),
        # above ~1e13 float64 portfolio values can no longer hold cents exactly
        ("backtest.init_cash", bt.init_cash, 0 < bt.init_cash <= 1e12, "a positive amount up to 1e12, e.g. 100000.0"),
    ]
    checks += [(f"backtest.{k}", getattr(bt, k), 0 <= getattr(bt, k) < 0.1,
                "a fraction of traded value in [0, 0.1), e.g. 0.001 for 10 bp") for k in ("fees", "tax", "slippage")]
    for where, value, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{where} must be {expected}. Got {value}.")
    _validate_study(config)


def validate(config: RunConfig) -> None:
    """Cross-field checks that a single field's type cannot express."""
    from forecasters.registry import forecasters
    from strategies.signals import RULES

    wf, fc, tr, st, data = config.walkforward, config.forecast, config.training, config.strategies, config.data
    if data.source not in SOURCES:
        raise ConfigError(f"data.source: expected one of {', '.join(map(repr, SOURCES))}. Got {data.source!r}."
                          + suggest(data.source, SOURCES))
    _check_run(config.run)
    positive = {
        "walkforward.train_days": wf.train_days, "walkforward.test_days": wf.test_days,
        "forecast.lookback": fc.lookback, "forecast.seeds": fc.seeds, "training.epochs": tr.epochs,
        "training.batch_size": tr.batch_size,
        "strategies.bollinger_window": st.bollinger_window, "strategies.macd_fast": st.macd_fast,
        "strategies.macd_slow": st.macd_slow, "strategies.macd_signal": st.macd_signal,
    }
    for where, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{where} must be positive. Got {value}.")
    _validate_windows(config)
    _check_scope(config)
    _check_ranges(config)
    if not fc.models and not config.universe.enabled:
        raise ConfigError("forecast.models is empty. Name at least one, e.g. models = [\"lstm\"].")
    _validate_networks(config.networks)
    _validate_training(tr, config.universe)
    _validate_median_loss(tr, config.universe, fc.models)
    _require_known("forecast.models", "model", fc.models, forecasters(config.architectures().values()),
                   " (see `wfbt models`, or define it in a [networks.NAME] table)")
    if len(set(fc.models)) != len(fc.models):
        raise ConfigError(f"forecast.models lists a model twice. Got {fc.models}.")
    _validate_features(fc.features, config.universe.enabled)
    for where, names in (("forecast.features", fc.features), ("strategies.rules", st.rules)):
        if len(set(names)) != len(names):
            raise ConfigError(f"{where} lists a name twice. Got {list(names)}. Name each once.")
    if not config.universe.enabled:
        _require_known("strategies.rules", "rule", st.rules, RULES, " (see `wfbt strategies`)")
    if st.macd_fast >= st.macd_slow:
        raise ConfigError(
            f"strategies.macd_fast must be below macd_slow. Got {st.macd_fast} and {st.macd_slow}."
        )
    _validate_statistics(config.statistics)
    _validate_trading_costs(config.backtest)
    _validate_adjust(data)
    _validate_trader(config.strategies, config.backtest)
    if config.universe.enabled:
        _validate_universe(config.universe, data, config.backtest, config)
    if data.adjusted and data.source != "yfinance":
        raise ConfigError(f"data.adjusted = true applies to data.source = \"yfinance\" only; {data.source!r} prices "
                          "are used as they come. Give a file of adjusted prices instead, or leave adjusted out.")
    if data.source == "csv" and not data.path:
        raise ConfigError('data.source = "csv" needs data.path, e.g. --set data.path=prices.csv.')


def _flat(config: RunConfig) -> dict[str, Any]:
    """Every ``section.key`` of a config and its value ([networks] left out: both kinds apply it)."""
    return {f"{f.name}.{key}": value for f in dataclasses.fields(config) if f.name != "networks"
            for key, value in dataclasses.asdict(getattr(config, f.name)).items()}


def _check_scope(config: RunConfig) -> None:
    """A key the run's kind does not apply is refused by name when it is set (backtest.core.scope)."""
    from backtest.core.scope import SINGLE, UNIVERSE, refusal

    message = refusal(UNIVERSE if config.universe.enabled else SINGLE, _flat(config), _flat(RunConfig()))
    if message:
        raise ConfigError(message)


def _validate_study(config: RunConfig) -> None:
    """The study protocol's fractions make one split; a whole-series scaler (look-ahead) only in a study run."""
    wf, fc = config.walkforward, config.forecast
    parts = {"study_train": wf.study_train, "study_val": wf.study_val, "study_test": wf.study_test}
    for key, value in parts.items():
        if not 0 <= value < 1:
            raise ConfigError(f"walkforward.{key} is a fraction of the rows in [0, 1), e.g. 0.8. Got {value}.")
    if wf.study_train == 0 or wf.study_test == 0:
        raise ConfigError(f"walkforward.study_train and study_test must be above 0 (rows to fit on and rows to "
                          f"score). Got {wf.study_train} and {wf.study_test}.")
    if abs(sum(parts.values()) - 1) > 1e-9:
        raise ConfigError(f"walkforward.study_train + study_val + study_test must add up to 1, e.g. 0.8 + 0.1 + 0.1."
                          f" Got {wf.study_train} + {wf.study_val} + {wf.study_test} = {sum(parts.values()):g}.")
    if fc.scaler_fit == "whole_series" and wf.protocol != "study":
        raise ConfigError('forecast.scaler_fit = "whole_series" fits the scaler on the test days too (look-ahead); '
                          'it is allowed only to reproduce a study, with walkforward.protocol = "study". Set '
                          'protocol = "study", or leave scaler_fit = "fold".')
    if config.universe.enabled and (wf.protocol != "walkforward" or fc.layout != "sequence"):
        raise ConfigError(f"a universe run walks forward on sequences; walkforward.protocol = {wf.protocol!r} and "
                          f"forecast.layout = {fc.layout!r} are for single-symbol runs. Leave them out.")


PRESETS = ("alpha360",)  # universe inputs standing for several window columns (backtest.engine.panel_features)
UNIVERSE_FEATURES = ["close"]  # a universe run's inputs when forecast.features is left out: the close's returns


def factor_names(features: list[str]) -> list[str]:
    """The names of ``features`` that are neither a price column, a derived feature nor a preset: in a universe
    run, columns of the user's own long file (a factor they computed), checked where the file is read."""
    from strategies.features import FEATURES, PRICE_COLUMNS, is_derived

    def known(name: str) -> bool:
        prefix, _, n = name.rpartition("_")
        return name in PRICE_COLUMNS or is_derived(name) or name in PRESETS or (prefix in FEATURES and n.isdigit())

    return [name for name in features if not known(name)]


def _validate_features(features: list[str], universe: bool) -> None:
    """Price columns, derived features (``strategies.features``: ret_5, rsi_14, ...) and, in a universe run, the
    presets and the columns of the user's own file (``factor_names``), each by a known name."""
    from strategies.features import FEATURES, PRICE_COLUMNS, examples, is_derived

    patterns = [f.pattern for f in FEATURES.values()]
    factors = factor_names(features) if universe else []
    for name in factors:
        if not name or name != name.strip().lower():
            raise ConfigError(f"forecast.features: {name!r} is read as a column of your own file, whose headers are "
                              f"read lower-cased and stripped; write it so (e.g. {name.strip().lower()!r}). Got "
                              f"{name!r}.")
    for name in features:
        if name in PRICE_COLUMNS or is_derived(name) or (universe and name in PRESETS) or name in factors:
            continue
        if name in PRESETS:
            raise ConfigError(f"forecast.features: {name!r} is a preset of a universe run's inputs (the last lookback "
                              "days of open, high, low, close, vwap-or-close and volume, each relative to today's); "
                              "a single-symbol run lists its columns instead, e.g. "
                              "features = ['open', 'high', 'low', 'close', 'volume'].")
        prefix, _, n = name.rpartition("_")
        if prefix in FEATURES and n.isdigit():
            feature = FEATURES[prefix]
            takes = (f"a window n >= {feature.minimum} ({prefix}_<n>, e.g. {prefix}_{feature.example})"
                     if feature.example is not None else "no window (it takes the strategies' MACD settings)")
            raise ConfigError(f"forecast.features: {name!r}: {prefix} takes {takes}. Got {name!r}.")
        presets = f", presets {', '.join(PRESETS)} (universe runs)" if universe else ""
        raise ConfigError(
            f"forecast.features: unknown feature {name!r}.{suggest(name, [*PRICE_COLUMNS, *examples(), *PRESETS])} "
            f"Known features: {', '.join(PRICE_COLUMNS)}, and derived {', '.join(patterns)}{presets} (see `wfbt "
            "models`, docs/features.md). A column of your own file (a factor) is read by universe runs only "
            "(universe.enabled = true, data.path a long file or a folder).")
    if "close" not in features and not (universe and set(PRESETS) & set(features)):
        raise ConfigError("forecast.features must include 'close', the series being forecast.")


def _validate_windows(config: RunConfig) -> None:
    """The walk-forward's day counts leave every fold enough fitting days for a window, a target and a batch."""
    wf, fc, tr = config.walkforward, config.forecast, config.training
    if wf.val_days < 0 or wf.gap < 0:
        raise ConfigError(f"walkforward.val_days and gap must be >= 0. Got {wf.val_days} and {wf.gap}.")
    if wf.max_folds is not None and wf.max_folds <= 0:
        raise ConfigError(f"walkforward.max_folds must be positive or left out. Got {wf.max_folds}.")
    # One symbol's batches are drawn from its days; a universe's from every stock's days (505 a day), so
    # there a batch needs no more days than one window and its target.
    un = config.universe
    ahead = un.horizon + wf.embargo  # a universe's window needs its target's days inside the fitting rows too
    min_fit, rule = (fc.lookback + ahead, "lookback + " + ("1" if ahead == 1 else "universe.horizon + embargo")) \
        if un.enabled else (fc.lookback + tr.batch_size, "lookback + batch_size")
    if wf.train_days - wf.val_days < min_fit:
        raise ConfigError(
            f"walkforward.train_days - val_days leaves {wf.train_days - wf.val_days} fitting days; "
            f"need at least {rule} = {min_fit}. Raise train_days or lower val_days."
        )
    if wf.val_days and wf.val_days < 2:
        raise ConfigError(f"walkforward.val_days must be 0 or at least 2. Got {wf.val_days}.")
    _validate_horizon(config)


def _validate_horizon(config: RunConfig) -> None:
    """The target's horizon and the embargo: universe runs only, and a validation block that still holds targets."""
    wf, un = config.walkforward, config.universe
    if wf.embargo < 0:
        raise ConfigError(f"walkforward.embargo must be >= 0 days. Got {wf.embargo}.")
    if not un.enabled:  # a single-symbol run refuses the universe's keys by name (backtest.core.scope)
        return
    if not 1 <= un.horizon <= 20:
        raise ConfigError(f"universe.horizon is the days the target looks ahead, from 1 to 20, e.g. 5 for a week. "
                          f"Got {un.horizon}.")
    cut = un.horizon + wf.embargo
    if 0 < wf.val_days <= cut:
        raise ConfigError(f"walkforward.val_days = {wf.val_days} holds no validation target: each must end inside the "
                          f"block, {un.horizon} (universe.horizon) + {wf.embargo} (embargo) days after its decision "
                          f"day. Raise val_days above {cut}, or set val_days = 0.")


def _validate_trading_costs(bt: BacktestSection) -> None:
    """The risk-free rate, the lot and the minimum fee: numbers a broker or a central bank could quote."""
    if not -0.05 < bt.risk_free < 0.5:
        raise ConfigError(f"backtest.risk_free is a yearly rate in (-0.05, 0.5), e.g. 0.02 for 2 %. "
                          f"Got {bt.risk_free}.")
    if bt.lot_size < 1:
        raise ConfigError(f"backtest.lot_size must be a whole number of shares >= 1, e.g. 1000 for a Taiwan lot. "
                          f"Got {bt.lot_size}.")
    if bt.lot_size > 1 and not bt.whole_shares:
        raise ConfigError(f"backtest.lot_size = {bt.lot_size} applies only with backtest.whole_shares = true. "
                          "Set whole_shares = true, or leave lot_size out.")
    if not 0 <= bt.min_fee < bt.init_cash:
        raise ConfigError(f"backtest.min_fee is a commission floor in cash, from 0 to below backtest.init_cash "
                          f"({bt.init_cash:g}), e.g. 20.0. Got {bt.min_fee}.")


def yahoo_adjusted(data: DataSection) -> bool:
    """Whether yfinance downloads dividend-adjusted bars: data.adjust = "adjusted", or data.adjusted = true."""
    return data.adjusted or data.adjust == "adjusted"


ADJUSTABLE = {"csv": "its Adj Close column", "yfinance": "Yahoo's dividend adjustment"}  # data.adjust = adjusted


def _validate_adjust(data: DataSection) -> None:
    """data.adjust asks only for what the source can give; data.adjusted is yfinance's older spelling of it."""
    if data.adjust == "dividends":
        raise ConfigError(f"data.adjust = \"dividends\" needs cash dividends by ex-date, and no source wfbt reads "
                          f"gives them yet ({data.source!r} included). Use data.adjust = \"adjusted\" (csv with an "
                          "Adj Close column, or yfinance) for the total return, or \"none\" for raw prices.")
    if data.adjust == "adjusted" and data.source not in ADJUSTABLE:
        raise ConfigError(f"data.adjust = \"adjusted\" needs dividend-adjusted prices, which data.source = "
                          f"{data.source!r} does not give (csv: {ADJUSTABLE['csv']}; yfinance: "
                          f"{ADJUSTABLE['yfinance']}; the tej reader reads data.table's prices as they come, raw "
                          "in TWN/APRCD). "
                          "Give a csv file with Adj Close, use yfinance, or set data.adjust = \"none\".")


def _validate_statistics(st: StatisticsSection) -> None:
    if not 0 < st.significance < 0.5:
        raise ConfigError(f"statistics.significance is a p-value threshold in (0, 0.5), e.g. 0.05. "
                          f"Got {st.significance}.")
    if not 0 < st.mcs_size < 1:
        raise ConfigError(f"statistics.mcs_size must be in (0, 1), e.g. 0.10. Got {st.mcs_size}.")
    if st.bootstrap_reps < 100:
        raise ConfigError(f"statistics.bootstrap_reps must be at least 100 (1000 is usual). Got {st.bootstrap_reps}.")
    if st.pbo_blocks < 4 or st.pbo_blocks % 2 or st.pbo_blocks > 20:
        raise ConfigError(f"statistics.pbo_blocks must be an even number from 4 to 20 (16 is usual). "
                          f"Got {st.pbo_blocks}.")


def _validate_universe(un: UniverseSection, data: DataSection, bt: BacktestSection, config: RunConfig) -> None:
    """A universe run reads a csv file or folder and trades books that its numbers can fill."""
    _validate_universe_source(data)
    if un.k < 1:
        raise ConfigError(f"universe.k must be at least 1 name per leg, e.g. 10. Got {un.k}.")
    if not 0 <= un.n_drop <= un.k:
        raise ConfigError(f"universe.n_drop must be from 0 to universe.k ({un.k}), e.g. 2. Got {un.n_drop}.")
    if not un.books:
        raise ConfigError(f"universe.books is empty. Name at least one of {', '.join(UNIVERSE_BOOKS)}.")
    _require_known("universe.books", "book", un.books, UNIVERSE_BOOKS)
    if len(set(un.books)) != len(un.books):
        raise ConfigError(f"universe.books lists a book twice. Got {un.books}. Name each once.")
    least = 2 * un.k if "long_short" in un.books else un.k
    if un.min_symbols < max(least, 2):
        raise ConfigError(f"universe.min_symbols must be at least {max(least, 2)} (2 and the names the books "
                          f"hold: k = {un.k} per leg). Got {un.min_symbols}. Raise it or lower universe.k.")
    from forecasters.registry import forecasters  # lazily, as in validate: reading the registry loads no torch

    known = [m for m in forecasters(config.architectures().values()) if m != "drift"]
    _require_known("forecast.models", "model", config.forecast.models, known,
                   " (a universe's pooled networks: architectures of `wfbt models`, or linear)")
    _validate_universe_memory(un)
    _validate_leg_gross(un)
    _validate_universe_rules(config.strategies.rules)
    from forecasters.processors import PROCESSORS

    _require_known("universe.processors", "processor", un.processors, PROCESSORS, " (docs/universes.md)")
    _validate_target_processors(un)
    _validate_universe_books(un)


def _validate_target_processors(un: UniverseSection) -> None:
    """universe.target_processors: within-day processors of a return label, each once."""
    from forecasters.processors import PROCESSORS, TARGET, target_refusal

    names = un.target_processors
    if not names:
        return
    _require_known("universe.target_processors", "processor", names, PROCESSORS, " (docs/universes.md)")
    for name in names:
        why = target_refusal(name)
        if why is not None:
            raise ConfigError(f"universe.target_processors: {name!r} does not process a target: {why}. Use "
                              f"{' or '.join(TARGET)}, or leave it out.")
    if len(set(names)) != len(names):
        raise ConfigError(f"universe.target_processors lists a processor twice. Got {list(names)}. Name each once.")
    if un.target != "return":
        already = {"rank": "is already ranked within the day", "zscore": "is already z-scored within the day",
                   "above_median": "is a 0/1 label, which a rank or z-score turns into two values that mean no more"}
        raise ConfigError(f"universe.target_processors = {list(names)} apply to target = \"return\"; universe.target = "
                          f"{un.target!r} {already[un.target]}. Set universe.target = \"return\", or leave "
                          "universe.target_processors out.")


def _validate_universe_books(un: UniverseSection) -> None:
    """The books' schedule and their neutrality within groups mean something."""
    if not 1 <= un.rebalance <= 252:
        raise ConfigError(f"universe.rebalance is the days between a book's trades, from 1 to 252, e.g. 5 for weekly. "
                          f"Got {un.rebalance}.")
    if un.neutral != "none" and not un.groups:
        raise ConfigError(f"universe.neutral = {un.neutral!r} needs groups to be neutral within: set universe.groups "
                          "to a CSV of symbol, group (e.g. ../shared/data/groups/sp500_sectors.csv), or neutral = "
                          "\"none\".")
    if un.neutral == "within" and "topk_dropout" in un.books:
        raise ConfigError("universe.neutral = \"within\" picks the top k of each group for long_short and long_only; "
                          "topk_dropout keeps one list across the groups. Use neutral = \"demean\", or drop "
                          "topk_dropout from universe.books.")
    if un.rebalance > 1 and un.rebalance_on != "days":
        raise ConfigError(f"universe.rebalance = {un.rebalance} and rebalance_on = {un.rebalance_on!r} both set a "
                          f"schedule. Keep one: rebalance_on = \"days\" with rebalance = n, or rebalance = 1 with the "
                          "calendar.")


def _validate_universe_source(data: DataSection) -> None:
    """A universe comes from a csv file or folder (data.path), or from yfinance/tej symbols (data.symbols or a file)."""
    if data.source not in ("csv", "yfinance", "tej"):
        raise ConfigError(f"universe.enabled = true reads data.source = \"csv\" (a long file, a wide file or a "
                          f"folder), or \"yfinance\" / \"tej\" with data.symbols. Got data.source = {data.source!r}. "
                          "Set data.source = \"csv\" and data.path, or data.source = \"yfinance\" and data.symbols.")
    if data.source == "csv" and data.symbols:
        raise ConfigError(f"data.symbols lists symbols to download from yfinance or tej; a csv universe's symbols are "
                          f"the ones in data.path. Got data.symbols = {data.symbols[:3]} with data.source = \"csv\". "
                          "Leave data.symbols out, or set data.source = \"yfinance\" or \"tej\".")
    if data.source != "csv" and bool(data.symbols) == bool(data.path):
        got = "both" if data.symbols else "neither"
        raise ConfigError(f"a {data.source} universe needs its symbols: data.symbols = [\"AAPL\", \"MSFT\", ...] or "
                          f"data.path = a text file of them, one a line. Got {got}. Set one of the two.")
    blank = [s for s in data.symbols if not str(s).strip()]
    if blank or len(set(data.symbols)) < len(data.symbols):
        twice = sorted({s for s in data.symbols if data.symbols.count(s) > 1})
        raise ConfigError(f"data.symbols must name each symbol once, none empty. Got "
                          f"{'an empty name' if blank else 'twice: ' + ', '.join(twice)}. Remove it.")


def _validate_universe_rules(rules: list[str]) -> None:
    """A universe's strategies.rules names each rule of strategies.rulebooks at most once."""
    from strategies.rulebooks import PANEL_RULES

    _require_known("strategies.rules", "rule", rules, PANEL_RULES, " (see `wfbt strategies`)")


def _validate_leg_gross(un: UniverseSection) -> None:
    """The long_short book's exposure per leg is a share of its value in (0, 1], and it has a book to size."""
    if not 0 < un.leg_gross <= 1:
        raise ConfigError(f"universe.leg_gross is the share of the book's value in each leg of long_short, in "
                          f"(0, 1]: 0.5 = half long and half short (gross 1), 1.0 = each leg fully invested (gross "
                          f"2, Fischer & Krauss's accounting). Got {un.leg_gross}.")
    if un.leg_gross != UniverseSection.leg_gross and "long_short" not in un.books:
        raise ConfigError(f"universe.leg_gross = {un.leg_gross} sizes the long_short book, which universe.books "
                          f"({', '.join(un.books)}) leaves out. Add \"long_short\" to universe.books, or leave "
                          "leg_gross out.")


def _validate_universe_memory(un: UniverseSection) -> None:
    """The pooled networks' memory budget is a positive number of GiB."""
    if not un.memory_gb > 0:
        raise ConfigError(f"universe.memory_gb must be a positive number of GiB for the pooled windows and "
                          f"training, e.g. 2.0. Got {un.memory_gb}.")


def _validate_trader(st: StrategiesSection, bt: BacktestSection) -> None:
    """Direction, sizing and stops: sizes a cash account can fill, stops vectorbt can price, one stop-loss kind."""
    checks = [  # (field, value, ok, what the range is)
        ("strategies.fraction", st.fraction, 0 < st.fraction <= 1, "a share of equity in (0, 1], e.g. 0.5"),
        ("strategies.target_vol", st.target_vol, 0 < st.target_vol <= 2, "an annual volatility in (0, 2], e.g. 0.10"),
        ("strategies.vol_window", st.vol_window, st.vol_window >= 2, "a number of days >= 2, e.g. 20"),
        ("strategies.max_leverage", st.max_leverage, 0 < st.max_leverage <= 1,
         "a cap in (0, 1], e.g. 1.0 (vectorbt 1.2's from_signals lends no cash for longs, so a long cannot be "
         "larger than the cash)"),
        ("backtest.borrow", bt.borrow, 0 <= bt.borrow < 1, "a yearly rate in [0, 1), e.g. 0.005 for 50 bp"),
    ]
    for key in ("stop_loss", "take_profit", "trailing_stop"):
        value = getattr(st, key)
        top = 10 if key == "take_profit" else 1
        checks.append((f"strategies.{key}", value, value is None or 0 <= value < top,
                       f"a fraction in [0, {top}) (0.05 = 5 %), or 0 or left out for none"))
    for where, value, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{where} must be {expected}. Got {value}.")
    if st.stop_loss and st.trailing_stop:
        raise ConfigError(f"strategies.stop_loss and trailing_stop are both set ({st.stop_loss} and "
                          f"{st.trailing_stop}); vectorbt keeps one stop-loss per position. Set one of them and leave "
                          "the other out.")
    if (st.stop_loss or st.take_profit or st.trailing_stop) and bt.execution != "next_open":
        raise ConfigError("strategies.stop_loss, take_profit and trailing_stop are checked against each day's open, "
                          f"high and low, which needs backtest.execution = \"next_open\". Got {bt.execution!r}. "
                          "Set execution = \"next_open\" or leave the stops out.")


NETWORK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def _validate_networks(networks: dict[str, NetworkSection]) -> None:
    """Each [networks.NAME]: a new plain name, 1 to 4 layers of 1 to 1024 units, dropout in [0, 1)."""
    from forecasters.registry import ARCHITECTURES, BASELINES, MAX_LAYERS

    for name, net in networks.items():
        where = f"networks.{name}"
        if not NETWORK_NAME.fullmatch(name):
            raise ConfigError(f"[{where}]: a network's name is a letter, then up to 39 letters, digits, '_' or '-' "
                              f"(it names files and table rows). Got {name!r}. Rename the table, e.g. "
                              "[networks.gru_small].")
        if name in ARCHITECTURES or name in BASELINES:
            raise ConfigError(f"[{where}]: {name!r} is already a {'preset' if name in ARCHITECTURES else 'baseline'} "
                              f"(see `wfbt models`). Give the network a name of its own, e.g. "
                              f"[networks.{name}_custom].")
        if not 1 <= len(net.hidden) <= MAX_LAYERS or not all(1 <= h <= 1024 for h in net.hidden):
            raise ConfigError(f"{where}.hidden must list the units of 1 to {MAX_LAYERS} layers, each from 1 to 1024, "
                              f"e.g. hidden = [50, 50, 50]. Got {net.hidden}.")
        if not 0.0 <= net.dropout < 1.0:
            raise ConfigError(f"{where}.dropout must be a fraction in [0, 1), e.g. 0.2 (0 = none). Got {net.dropout}.")


def _validate_median_loss(tr: TrainingSection, un: UniverseSection, models: list[str]) -> None:
    """Networks trained on the median target's 0/1 labels take the binary cross-entropy: their forecasts are
    then probabilities in (0, 1). A regression loss on labels is refused rather than swapped silently."""
    if un.enabled and un.target == "above_median" and models and tr.loss != "bce":
        raise ConfigError(f"universe.target = \"above_median\" trains forecast.models ({', '.join(models)}) on "
                          f"0/1 labels, which takes training.loss = \"bce\" (binary cross-entropy; the forecast is "
                          f"the probability of beating the median). Got training.loss = {tr.loss!r}. Set "
                          "training.loss = \"bce\", or universe.target = \"return\" to forecast returns.")


def _validate_training(tr: TrainingSection, un: UniverseSection) -> None:
    """The optimiser's momentum and the loss fit the run; patience stays positive (early_stopping = false is the
    off switch)."""
    if tr.patience <= 0:
        raise ConfigError(f"training.patience must be positive (epochs without improvement before a member stops). "
                          f"Got {tr.patience}. To train every epoch, set training.early_stopping = false.")
    if not 0.0 <= tr.momentum < 1.0:
        raise ConfigError(f"training.momentum must be in [0, 1), e.g. 0.9. Got {tr.momentum}.")
    if tr.momentum and tr.optimizer != "sgd":
        raise ConfigError(f"training.momentum applies to optimizer = \"sgd\" only (Adam and RMSprop use torch's "
                          f"defaults). Got momentum = {tr.momentum} with optimizer = {tr.optimizer!r}. Set "
                          "optimizer = \"sgd\" or leave momentum out.")
    if tr.loss == "bce" and not (un.enabled and un.target == "above_median"):
        raise ConfigError("training.loss = \"bce\" needs 0/1 targets: a universe run with universe.target = "
                          "\"above_median\". Forecasts of returns or prices take \"mse\", \"mae\" or \"huber\".")
