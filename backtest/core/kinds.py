"""The run kind, asked one way: ``kind_of(thing)`` for a config, a result, a summary, a manifest or a sweep cell.

A run is of one of two kinds: a single symbol (``engine.pipeline``) or a universe of symbols
(``engine.universe``). Code that must do something different for each kind asks the kind's home
(``backtest.kinds``), which asks ``kind_of``; nothing else reads ``universe.enabled``, a manifest's
``"kind"`` or a result's class to decide (``tests/project/test_kind_home.py`` keeps it so).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from backtest.core.config import RunConfig
from backtest.core.errors import RunDirError


class Kind(StrEnum):
    """What a run covers; the value is what a manifest's ``"kind"`` holds."""

    SINGLE = "single"  # one symbol: forecasts of its prices, strategies on it
    UNIVERSE = "universe"  # many symbols: cross-sectional scores, books across the stocks


def kind_of(thing: RunConfig | Mapping[str, Any] | Any) -> Kind:
    """The kind of ``thing``.

    - a ``RunConfig``: universe when ``universe.enabled``;
    - a mapping: a manifest (its ``"kind"``; a manifest written before every folder recorded it is a
      single-symbol run's) or a raw config table (``[universe] enabled``);
    - anything else with a ``kind`` attribute (a result, a summary, a sweep cell): that attribute.

    >>> kind_of({"kind": "universe"}), kind_of({}), kind_of({"universe": {"enabled": True}})
    (<Kind.UNIVERSE: 'universe'>, <Kind.SINGLE: 'single'>, <Kind.UNIVERSE: 'universe'>)
    """
    if isinstance(thing, RunConfig):
        return Kind.UNIVERSE if thing.universe.enabled else Kind.SINGLE
    if isinstance(thing, Mapping):
        if "kind" in thing:
            return _named(thing["kind"])
        section = thing.get("universe")
        return Kind.UNIVERSE if isinstance(section, Mapping) and section.get("enabled") is True else Kind.SINGLE
    kind = getattr(thing, "kind", None)
    if not isinstance(kind, Kind):
        raise TypeError(f"kind_of: {type(thing).__name__} has no run kind")
    return kind


def _named(value: Any) -> Kind:
    """A manifest's ``"kind"`` as a Kind, or a RunDirError naming the value and the kinds there are."""
    try:
        return Kind(value)
    except ValueError:
        raise RunDirError(f"manifest.json says kind {value!r}; wfbt knows {', '.join(repr(k.value) for k in Kind)}. "
                          "The folder was edited or written by another program: run it again.") from None
