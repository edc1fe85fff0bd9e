"""The `wfbt` command line: the typer app, its friendly errors and one module per command.

``main`` is the console script's entry point (``wfbt = "backtest.cli:main"``), the same as before the
commands got modules of their own, so an install made earlier keeps working.
"""

from backtest.cli.app import main

__all__ = ["main"]
