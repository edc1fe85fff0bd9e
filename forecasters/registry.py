"""The registry of forecaster architectures: named presets (the studies' models), each a name and a shape.

A config's ``[networks.NAME]`` table builds one more of the same dataclass (``custom``); ``architectures``
joins the presets and a run's custom networks into the table every name of ``forecast.models`` is read from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from forecasters.baselines import TRADABLE


@dataclass(frozen=True)
class Architecture:
    """A recurrent stack: ``hidden[i]`` units in layer i, dropout after every layer, then Linear(., 1)."""

    name: str
    cell: Literal["lstm", "gru"]
    hidden: tuple[int, ...]
    dropout: float
    source: str

    @property
    def gates(self) -> int:
        return 4 if self.cell == "lstm" else 3

    def n_params(self, n_features: int) -> int:
        """Trainable parameters, counted as torch.nn (and Keras' reset_after GRU) count them."""
        total, inputs = 0, n_features
        for h in self.hidden:
            total += self.gates * h * (inputs + h + 2)
            inputs = h
        return total + inputs + 1


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("lstm", "lstm", (64,), 0.2, "TSMC article: single LSTM, 64 units"),
        Architecture("gru", "gru", (64,), 0.2, "TSMC article: single GRU, 64 units"),
        Architecture("lstm_stacked", "lstm", (64, 32), 0.4, "TSMC article: stacked LSTM 64 -> 32"),
        Architecture("gru_stacked", "gru", (64, 32), 0.4, "TSMC article: stacked GRU 64 -> 32"),
        Architecture("lstm50", "lstm", (50,), 0.2, "S&P 500 paper: LSTM, 50 units"),
        Architecture("gru50", "gru", (50,), 0.2, "S&P 500 paper: GRU, 50 units"),
        # With 5 input features this is the paper's 39,201-parameter network.
        Architecture("gru3", "gru", (50, 50, 50), 0.2, "S&P 500 paper: best GRU, three layers of 50"),
        Architecture("lstm25", "lstm", (25,), 0.1, "Fischer & Krauss (2018): LSTM, 25 units, dropout 0.1"),
    ]
}
CELLS = ("lstm", "gru")
MAX_LAYERS = 4  # a [networks.NAME] table's hidden list: 1 to 4 layers


def custom(name: str, cell: Literal["lstm", "gru"], hidden: Iterable[int], dropout: float) -> Architecture:
    """The architecture a config's ``[networks.NAME]`` table describes (checked there first)."""
    units = tuple(hidden)
    return Architecture(name, cell, units, dropout, f"custom [networks.{name}]: {cell.upper()} "
                        f"{' -> '.join(map(str, units))}, dropout {dropout:g}")


def architectures(extra: Iterable[Architecture] = ()) -> dict[str, Architecture]:
    """The presets, then ``extra`` (a run's custom networks, whose names are not presets'), by name."""
    return {**ARCHITECTURES, **{a.name: a for a in extra}}


# Baselines every network must beat. naive is the yardstick of every table (Theil U, Diebold-Mariano);
# drift and linear are forecasters in their own right: list them in forecast.models to trade them too.
NAIVE = "naive"  # the yardstick's name in every table and file (predictions.csv's column too)
BASELINES: dict[str, str] = {  # as `wfbt models` lists them; the tradable ones are forecasters.baselines.TRADABLE
    NAIVE: "tomorrow's close = today's close",
    **{name: b.describe for name, b in TRADABLE.items()},
}
TRADABLE_BASELINES = tuple(TRADABLE)

def forecasters(extra: Iterable[Architecture] = ()) -> dict[str, str]:
    """Every name forecast.models accepts, with what it is: the architectures (the presets and ``extra``, a
    run's custom networks) and the tradable baselines."""
    return {**{a.name: a.source for a in architectures(extra).values()},
            **{name: BASELINES[name] for name in TRADABLE_BASELINES}}


def get_architecture(name: str, extra: Iterable[Architecture] = ()) -> Architecture:
    """The architecture ``name`` among the presets and ``extra`` (configs are checked first, with a
    did-you-mean, by backtest's config)."""
    known = architectures(extra)
    try:
        return known[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}. Known: {', '.join(known)}.") from None
