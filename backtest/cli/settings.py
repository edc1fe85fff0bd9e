"""`wfbt settings [SECTION]`: every config key (type, default, choices, what it does), and docs/settings.md.

The reference is read from the config's definitions (backtest.core.settings) and the sweep file's keys
(backtest.sweep.spec.SWEEP_KEYS), so it cannot drift; ``--markdown`` prints docs/settings.md, which a test
compares to the file.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from backtest.cli.common import console, friendly
from backtest.core.errors import ConfigError, suggest
from backtest.core.settings import Setting

EPILOG = ("Every config key, its type, default and choices: `wfbt settings` (one section: `wfbt settings data`) "
          "or docs/settings.md. Set any of them with --set section.key=value.")

INTRO = """# Settings

Every key of a run config (`wfbt run CONFIG`, `--set section.key=value`) and of a sweep file (`wfbt sweep`),
generated from their definitions in `backtest/core/config.py` and `backtest/sweep/spec.py` by
`wfbt settings --markdown > docs/settings.md` (a test fails when this page is stale). `wfbt settings SECTION`
prints one section in the terminal. A key a file leaves out keeps the default shown here (the built-in run,
the same as `configs/default.toml`); unknown keys are refused with a suggestion.

**Runs.** Each key says which kind of run applies it: `both`, `single` (a single-symbol run) or `universe`
(`universe.enabled = true`). A key set for a kind that does not apply it is refused by name, with what to do
instead; nothing is accepted and ignored (`backtest/core/scope.py`).

**Run folder names.** A run is written to `run.out_dir/run.name`. When `--set` changes the data
(`data.source`, `data.symbol` or `data.path`) and not `run.name`, the folder is named after both the config
and the data, e.g. `runs/default-AAPL_daily` for `wfbt run --set data.source=csv --set
data.path=../shared/data/AAPL_daily.csv`, so runs on different data never share a name. A finished run is
never overwritten: the next one of the same name goes to `<name>-2`.

**Close-only data.** A CSV with only a date and a close column (an index level, a fund's NAV, a FRED series)
runs with `forecast.features = ["close"]` and `backtest.execution = "close"`: with no open price there is no
next day's open to fill at, so orders fill at the signal day's close, and the summary says so.
"""


def _choices(s: Setting) -> str:
    parts = ([f"one of {', '.join(s.choices)}"] if s.choices else []) + ([s.range] if s.range else [])
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_markdown() -> str:
    """docs/settings.md: a table per section of the run config, then the sweep file's keys."""
    from backtest.core.settings import sections, settings
    from backtest.sweep.spec import OTHER_TABLES, SWEEP_KEYS

    rows = settings()
    lines = [INTRO]
    for section in sections():
        lines += [f"## [{section}]", "", "| key | runs | type | default | choices, range | what it does |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| `{s.key}` | {s.runs} | {s.type} | `{_cell(s.default)}` | {_cell(_choices(s))} | "
                  f"{_cell(s.description)} |" for s in rows if s.section == section]
        lines.append("")
    lines += ["## Sweep files", "", "A sweep file (`wfbt sweep SWEEP.toml`) has a `[sweep]` table, an optional "
              "`[base.<section>]` per run config section and a `[grid]`; see `configs/sweep_example.toml`.", "",
              "| key | what it does |", "|---|---|"]
    lines += [f"| `sweep.{key}` | {_cell(text)} |" for key, text in SWEEP_KEYS.items()]
    lines += [f"| `{key}` | {_cell(text)} |" for key, text in OTHER_TABLES.items()]
    return "\n".join(lines) + "\n"


def _known_sections() -> list[str]:
    from backtest.core.settings import sections

    return [*sections(), "sweep"]


def _sweep_table() -> Table:
    from backtest.sweep.spec import OTHER_TABLES, SWEEP_KEYS

    table = Table(title="Sweep file keys (wfbt sweep SWEEP.toml)", title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("what it does", overflow="fold")
    for key, text in {**{f"sweep.{k}": v for k, v in SWEEP_KEYS.items()}, **OTHER_TABLES}.items():
        table.add_row(escape(key), escape(text))
    return table


def _section_table(section: str) -> Table:
    from backtest.core.settings import settings

    table = Table(title=f"\\[{section}] settings", title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("runs", no_wrap=True)
    table.add_column("default", overflow="fold", max_width=24)
    table.add_column("type, choices: what it does", overflow="fold")
    for s in settings():
        if s.section == section:
            kind = "; ".join(p for p in (s.type, _choices(s)) if p)
            table.add_row(s.key.partition(".")[2], s.runs, escape(s.default), escape(f"{kind}: {s.description}"))
    return table


@friendly
def settings_command(
    section: Annotated[str | None, typer.Argument(help="One section, e.g. data, walkforward, forecast, sweep.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/settings.md instead.")] = False,
) -> None:
    """Every setting of a run config (and of a sweep file): type, default, choices and what it does."""
    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    known = _known_sections()
    if section is not None and section.strip("[]") not in known:
        raise ConfigError(f"no settings section {section!r}.{suggest(section, known)} Known sections: "
                          f"{', '.join(known)}.")
    for name in [section.strip("[]")] if section else known:
        console.print(_sweep_table() if name == "sweep" else _section_table(name))
    if section is None:
        console.print("Set any key with --set section.key=value or in the config file; docs/settings.md has them all.")
