"""The `wfbt` command line: a thin shell over backtest.run and the run folders, one module per command.

The commands live beside this app (run, inspect, data, sweep) and share cli.common's consoles and friendly
errors; each imports what it needs when it runs, so `wfbt models` does not load torch.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from backtest.cli import data, inspect, run, settings, sweep
from backtest.cli.common import DEBUG_ENV, State, debugging, unexpected

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Walk-forward backtests of LSTM/GRU forecasts and the strategies built on them.")


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="On an unexpected error, print the full "
                                                 f"traceback (same as {DEBUG_ENV}=1).")] = False) -> None:
    State.debug = debug


app.command("run", epilog=settings.EPILOG)(run.run_command)
app.command()(inspect.show)
app.command("compare")(inspect.compare_command)
app.command("plan")(inspect.plan_command)
for command in (inspect.models, inspect.strategies):
    app.command()(command)
app.add_typer(data.data_app, name="data")
app.command()(sweep.sweep)
app.command("settings")(settings.settings_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C outside a run
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - outside any command (the commands report their own)
        if debugging():
            raise
        sys.exit(unexpected(exc, " ".join(sys.argv[1:2]) or "wfbt"))
