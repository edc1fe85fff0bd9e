"""One manifest schema for both run kinds, and older manifests read in today's shape.

Every run folder's ``manifest.json`` has, whatever its kind:

    kind            "single" or "universe" (``backtest.core.kinds.Kind``)
    name, seed      the run's name and seed
    data            what was read (a single symbol's source/symbol/rows, a universe's origin/symbols/days),
                    with ``first``, ``last`` and ``fingerprint``
    folds           the number of walk-forward folds
    out_of_sample   {"first": "YYYY-MM-DD", "last": "YYYY-MM-DD", "days": N}
    fills           how orders filled, in words
    timings_s       stage -> seconds
    artifacts       file -> size, rows, SHA-256 (written by the run folder's writer)
    complete        true, written last

and the keys of its kind beside (a single symbol's device, features, versions; a universe's scorers, books).
"""

from __future__ import annotations

from typing import Any


def span(first: str, last: str, days: int) -> dict[str, Any]:
    """The ``out_of_sample`` table of a manifest."""
    return {"first": first, "last": last, "days": int(days)}


def current_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` in today's shape, from any shape wfbt wrote before.

    - no ``kind`` (single-symbol folders written before both kinds recorded it): ``"single"``;
    - ``out_of_sample`` as ``[first, last, days]`` (universe folders before): the ``{first, last, days}`` table;
    - ``timings`` (universe folders before): renamed ``timings_s``.

    Anything else is left as it is, for the readers' own checks to judge.
    """
    out = dict(manifest)
    out.setdefault("kind", "single")
    old = out.get("out_of_sample")
    if isinstance(old, list) and len(old) == 3:
        out["out_of_sample"] = span(*old)
    if "timings" in out and "timings_s" not in out:
        out["timings_s"] = out.pop("timings")
    return out
