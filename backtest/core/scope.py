"""Which kind of run applies each setting: every key is applied by a kind or refused for it by name.

A run is a single symbol or a universe (``backtest.core.kinds``). Most keys mean the same for both; the ones
below mean nothing for one kind, and setting them there (to anything but the built-in default) is refused with
the kind, the reason and what to do instead, rather than accepted and ignored. ``wfbt settings`` and
docs/settings.md show each key's kinds from this table; ``tests/core/test_scope.py`` walks every key of the
settings reference for both kinds and checks that it is refused here or named by a test that shows it
changing a run of that kind.

The kinds are written as ``backtest.core.kinds.Kind``'s values ("single", "universe"), which this module does
not import: the config's validation reads it, and the kinds module reads the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SINGLE, UNIVERSE = "single", "universe"
KIND_NAMES = {SINGLE: "single-symbol run", UNIVERSE: "universe run"}

_STUDY = ("a universe run walks forward (its one-split study protocol is the single-symbol studies')",
          "Leave it out, or set universe.enabled = false to reproduce a study on one symbol.")
_SIZING = ("a universe's books size their positions themselves (equal weights across the stocks held, "
           "universe.k and universe.leg_gross for the ranked books)",
           "Leave it out; choose the books with universe.books, universe.k and universe.leg_gross.")
_STOPS = ("a universe's books are rebalanced to target weights at each fill; no position has a stop of its own",
          "Leave it out, or run the stock alone (universe.enabled = false) to test stops.")

# key -> (why a universe run has no use for it, what to do instead)
UNIVERSE_REFUSES: dict[str, tuple[str, str]] = {
    "data.symbol": ("a universe run reads every stock of data.path, or the yfinance/tej symbols of data.symbols",
                    "Leave data.symbol out, or set universe.enabled = false to run one symbol."),
    "walkforward.protocol": _STUDY, "walkforward.study_train": _STUDY, "walkforward.study_val": _STUDY,
    "walkforward.study_test": _STUDY,
    "forecast.representation": ("its pooled networks read returns, standardised over the fold's fitting rows",
                                "Leave forecast.representation out."),
    "forecast.scaler": ("its pooled networks standardise the returns with the fold's pooled mean and standard "
                        "deviation (forecasters.panel)", "Leave forecast.scaler out."),
    "forecast.scaler_fit": _STUDY,
    "forecast.layout": ("its pooled networks read sequences of returns",
                        "Leave forecast.layout out (the flat layout is the single-symbol S&P 500 study's)."),
    "strategies.sizing": _SIZING, "strategies.fraction": _SIZING, "strategies.target_vol": _SIZING,
    "strategies.vol_window": _SIZING, "strategies.max_leverage": _SIZING,
    "strategies.stop_loss": _STOPS, "strategies.take_profit": _STOPS, "strategies.trailing_stop": _STOPS,
    "backtest.tax": ("a universe run charges backtest.fees and slippage per half-turn and has no sell-side tax",
                     "Set tax = 0.0 and fold it into backtest.fees."),
    "backtest.execution": ("a universe run fills at the next open (the next close with a close-only file) and has "
                           "no same-close fills", "Leave backtest.execution = \"next_open\"."),
    "statistics.mcs_size": ("the model confidence set ranks a single symbol's forecast errors; a universe's "
                            "scorers are tested by their IC", "Leave statistics.mcs_size out."),
}


# key -> (why a single-symbol run has no use for it, what to do instead); and every universe.* key but enabled
_ONE_PROCESS = "a single-symbol run trains every fold of an architecture in one batched group, in one process"
SINGLE_REFUSES: dict[str, tuple[str, str]] = {
    "run.workers": (_ONE_PROCESS, "Leave run.workers out, or set universe.enabled = true; `wfbt sweep` fans many "
                    "runs out over Dask."),
    "run.scheduler": (_ONE_PROCESS, "Leave run.scheduler out, or set universe.enabled = true; "
                      "`wfbt sweep --scheduler ADDRESS` fans many runs out over a cluster."),
    "data.symbols": ("it lists a universe's yfinance/tej symbols; a single-symbol run reads data.symbol",
                     "Set universe.enabled = true to rank them, or data.symbol for one symbol."),
    "walkforward.embargo": ("its purge is of pooled targets that look several days ahead; a single-symbol run "
                            "forecasts the next close",
                            "Leave walkforward.embargo out, or set universe.enabled = true."),
}

# values of a refused key that say what the kind does anyway
_SAME_AS_KIND: dict[tuple[str, str], tuple[Any, ...]] = {}


def _single_refusal(key: str) -> tuple[str, str]:
    return ("a single-symbol run has no cross-section of stocks",
            f"Set universe.enabled = true (with data.path a universe file), or leave {key} out.")


def applies(key: str, kind: str) -> bool:
    """Whether ``kind``'s runs apply ``key`` (a ``section.key`` of the settings reference)."""
    if kind == UNIVERSE:
        return key not in UNIVERSE_REFUSES
    return key not in SINGLE_REFUSES and (not key.startswith("universe.") or key == "universe.enabled")


def kinds(key: str) -> tuple[str, ...]:
    """The kinds that apply ``key``, in the order single, universe."""
    return tuple(kind for kind in KIND_NAMES if applies(key, kind))


def refusal(kind: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> str | None:
    """The message refusing the first key of ``values`` (``section.key`` -> value) that ``kind`` does not apply
    and that differs from its default, or None."""
    for key, value in values.items():
        if applies(key, kind) or value == defaults.get(key) or value in _SAME_AS_KIND.get((kind, key), ()):
            continue
        why, instead = UNIVERSE_REFUSES[key] if kind == UNIVERSE else SINGLE_REFUSES.get(key, _single_refusal(key))
        return f"{key} = {_shown(value)} does not apply to a {KIND_NAMES[kind]}: {why}. {instead}"
    return None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
