"""The `wfbt` command line: the typer app, its friendly errors and one function per command."""
