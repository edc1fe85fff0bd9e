"""`wfbt data`: download, cache and inspect price data (fetch, list, show)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from backtest.cli.common import console, friendly

data_app = typer.Typer(no_args_is_help=True, help="Download, cache and inspect price data.")


def _section(spec: str, start: str | None, end: str | None, adjusted: bool = False, refresh: bool = False) -> Any:
    from backtest.core.config import SOURCES, DataSection
    from backtest.core.errors import ConfigError

    source, _, symbol = spec.partition(":")
    if source not in SOURCES or not symbol:
        raise ConfigError(f"expected SOURCE:SYMBOL with SOURCE one of {', '.join(SOURCES)}, e.g. "
                          f"{', '.join(s.example for s in SOURCES.values() if s.network)}, "
                          f"{', '.join(s.example for s in SOURCES.values() if not s.network)}. Got {spec!r}.")
    if source == "csv":
        return DataSection(source="csv", path=symbol, start=start, end=end)
    return DataSection(source=source, symbol=symbol, start=start, end=end, adjusted=adjusted, refresh=refresh)


StartOpt = Annotated[str | None, typer.Option("--start", help="First date, e.g. 2019-01-01.")]


EndOpt = Annotated[str | None, typer.Option("--end", help="End date (exclusive).")]


@data_app.command("fetch")
@friendly
def data_fetch(
    spec: Annotated[str, typer.Argument(help="SOURCE:SYMBOL, e.g. yfinance:2330.TW or tej:2330.")],
    start: StartOpt = None, end: EndOpt = None,
    adjusted: Annotated[bool, typer.Option("--adjusted", help="yfinance: dividend-adjusted prices.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Download again even if cached.")] = False,
) -> None:
    """Download (or read from the cache) and check prices; print what was stored."""
    from backtest.core.config import SOURCES
    from backtest.data.cache import cache_file
    from backtest.data.load import load_prices

    section = _section(spec, start, end, adjusted, refresh)
    prices = load_prices(section)
    where = cache_file(section) if SOURCES[section.source].network else "not cached"
    console.print(f"{spec}: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}; cache: {where}")


@data_app.command("list")
@friendly
def data_list() -> None:
    """What is in the download cache: source, symbol, range, rows, size, download time."""
    from backtest.data.cache import cache_dir, cached_downloads

    table = Table(title=f"Cached prices in {cache_dir()}", title_justify="left")
    for col in ["source:symbol", "range", "adjusted", "rows", "size", "downloaded"]:
        table.add_column(col)
    for rec in cached_downloads():
        size = f"{rec['bytes'] / 1024:,.0f} KiB" if isinstance(rec["bytes"], int) else "missing"
        table.add_row(f"{rec['source']}:{rec['symbol']}", f"{rec['start'] or 'first'} → {rec['end'] or 'last'}",
                      str(rec["adjusted"]), str(rec["rows"]), size, str(rec["downloaded_at"]))
    console.print(table)


def _with_settings(section: Any, sets: list[str]) -> Any:
    """``section`` with --set data.KEY=VALUE overrides (columns, date_format, timezone, ...), checked as in a run."""
    import dataclasses

    from backtest.core.config import load_config, parse_override
    from backtest.core.errors import ConfigError

    for text in sets:
        if parse_override(text)[0] != "data":
            raise ConfigError(f"wfbt data show --set takes [data] keys only, e.g. --set \"data.columns={{Px = "
                              f"'close'}}\" or data.date_format='%d/%m/%Y'. Got {text!r}.")
    own = [f"data.{k}={v!r}" for k, v in (("source", section.source), ("symbol", section.symbol),
                                            ("path", section.path)) if v is not None]
    checked = load_config(None, [*own, *sets]).data
    return dataclasses.replace(checked, start=section.start, end=section.end)


@data_app.command("show")
@friendly
def data_show(
    spec: Annotated[str, typer.Argument(help="SOURCE:SYMBOL, e.g. sample:sp500 or csv:prices.csv.")],
    start: StartOpt = None, end: EndOpt = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="A [data] key as a run would set it, e.g. "
                    "--set \"data.columns={Px = 'close'}\" to preview a mapped file (repeatable).")] = None,
) -> None:
    """Head, tail and checks of one price series (warnings show what was fixed)."""
    from backtest.data.load import is_close_only, load_prices

    prices = load_prices(_with_settings(_section(spec, start, end), set_ or []))
    kind = ("close-only: runs with forecast.features = ['close'] and backtest.execution = close"
            if is_close_only(prices) else "open/close within \\[low, high]")
    console.print(f"{spec}: {len(prices)} rows {prices.index[0].date()} → {prices.index[-1].date()}, checks passed "
                  f"(sorted, unique dates, no NaN, positive prices, {kind})")
    console.print(prices.head().to_string())
    console.print("...")
    console.print(prices.tail().to_string())
