"""Errors that end a run with a message for the user instead of a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, options: Iterable[str]) -> str:
    """The "Did you mean ...?" every message about an unknown name ends with ('' when nothing is close)."""
    close = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


class WfbtError(Exception):
    """A problem the user can fix; the CLI prints it to stderr and exits non-zero."""

    exit_code = 2


class ConfigError(WfbtError):
    """The run configuration is invalid."""


class DataError(WfbtError):
    """The price data is missing, malformed or too short."""


class SourceError(WfbtError):
    """A data source (network, API, cache) failed."""

    exit_code = 3


class RunDirError(WfbtError):
    """A run folder is missing, incomplete or would be overwritten."""


class DamagedCheckpoint(RunDirError):
    """A saved group that cannot prove it is this run's finished work (cut off, edited, foreign, partial)."""


class DataWarning(UserWarning):
    """A data problem wfbt fixed by itself; printed, never silent."""


class CheckpointWarning(DataWarning):
    """A saved group of an interrupted run that did not prove itself: set aside and trained again; printed."""
