"""What every command shares: the two consoles, friendly errors (a message and an exit code, never a
traceback), the config argument."""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from backtest.core.errors import WfbtError

console = Console()


err = Console(stderr=True)


DEFAULT_CONFIG = Path("configs/default.toml")


DEBUG_ENV = "WFBT_DEBUG"


F = TypeVar("F", bound=Callable[..., Any])


class State:
    debug = False  # --debug on this invocation


def debugging() -> bool:
    return State.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


# A command with arguments quoted in a message (`wfbt run CONFIG --resume`): printed whole, on a line of its own.
# A bare command name (`wfbt models`) is a mention, left in its sentence.
COMMAND = re.compile(r"`(wfbt [^`\s]+ [^`]+)`")


def say(to: Console, label: str, text: str) -> None:
    """Print ``label`` (markup, e.g. ``[bold red]error:[/]``) and the plain ``text``, its prose wrapped to the
    console, and every `wfbt ...` command with arguments quoted in it on a line of its own, never wrapped nor
    cut, so that it can be copied and pasted whole at any width (a terminal narrower than the command folds it
    for display only). Punctuation right after a command is left out: a pasted line must be the command alone."""
    parts = COMMAND.split(text)  # prose, command, prose, command, ..., prose
    head = parts[0].rstrip()
    to.print(f"{label} {escape(head)}" if head else label, highlight=False)
    for command, after in zip(parts[1::2], parts[2::2], strict=True):
        to.print(command, soft_wrap=True, markup=False, highlight=False, emoji=False)
        after = after.lstrip(" .,;:").strip()
        if after:
            to.print(escape(after), highlight=False)


def unexpected(exc: BaseException, command: str) -> int:
    """Report an exception no check expected: one message, where the traceback is; the exit code."""
    where = ""
    try:
        fd, path = tempfile.mkstemp(prefix="wfbt-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"wfbt {command}: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
        where = f"The full traceback is in {path}; "
    except OSError:
        pass
    say(err, "[bold red]error:[/]",
        f"wfbt {command} failed unexpectedly: {type(exc).__name__}: {exc}\nThis is a bug in wfbt or a problem with "
        f"this machine's environment (memory, disk, installed packages), not an input wfbt knows how to check. "
        f"{where}`wfbt --debug {command} ...` or {DEBUG_ENV}=1 prints the full traceback. Please report it with "
        "that traceback.")
    return 1


def friendly(func: F) -> F:
    """Print WfbtErrors and data warnings as messages on stderr, with a non-zero exit, not tracebacks.

    Anything else is a bug or an environment problem: one message and exit code 1 (the traceback goes
    to a file, or to the terminal with --debug / WFBT_DEBUG=1).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from backtest.data.load import DataWarning

        def show(message: Any, category: Any, *_: Any, **__: Any) -> None:
            say(err, "[yellow]warning:[/]", str(message))

        with warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = show
            try:
                return func(*args, **kwargs)
            except WfbtError as exc:
                say(err, "[bold red]error:[/]", str(exc))
                raise typer.Exit(exc.exit_code) from None
            except (typer.Exit, typer.Abort, typer.BadParameter):
                raise  # typer's own ways to end a command
            except Exception as exc:
                if debugging():
                    raise
                raise typer.Exit(unexpected(exc, func.__name__.removesuffix("_command").replace("_", " "))) from None

    return wrapper  # type: ignore[return-value]


DATA_KEYS = ("data.source", "data.symbol", "data.path", "data.symbols")  # --set on these names the run after its data


def data_label(data: Any, universe: bool = False) -> str:
    """A folder-safe label of the data: a csv file's (or a universe's symbol list's) name without its suffixes,
    a universe's first symbol and how many more (``AAPL+4``), else the symbol."""
    if data.symbols:
        raw = f"{data.symbols[0]}+{len(data.symbols) - 1}"
    else:
        raw = Path(data.path).name.split(".")[0] if (data.source == "csv" or universe) and data.path else data.symbol
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._-") or data.source


def named_for_data(overrides: list[str]) -> bool:
    """Whether the run is named after its config and its data: --set changes the data and not run.name.

    The folder is then ``<run.name>-<data label>`` (``default-AAPL_daily``), so a run on other data never
    passes for the config's own run.
    """
    from backtest.core.config import parse_override

    keys = {".".join(parse_override(text)[:2]) for text in overrides}
    return "run.name" not in keys and bool(keys & set(DATA_KEYS))


def load_run_config(path: Path | None, overrides: list[str] | None) -> Any:
    """The config file (default configs/default.toml if present) with ``overrides``, its run named after its data."""
    from backtest.core.config import load_config

    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    cfg = load_config(path, overrides or [])
    if not named_for_data(overrides or []):
        return cfg
    from backtest.kinds import home

    name = f"{cfg.run.name}-{data_label(cfg.data, home(cfg).applies('data.symbols'))}"[:100]  # reads symbol lists
    return load_config(path, [*(overrides or []), f"run.name={name!r}"])


ConfigArg = Annotated[Path | None, typer.Argument(
    help="TOML config; default: configs/default.toml if present, else the built-in defaults (the same run).")]


SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a key, e.g. --set training.epochs=5 (repeatable).")]
