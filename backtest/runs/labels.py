"""Naming the run folders a comparison is given, for both run kinds: each named once, each told apart."""

from __future__ import annotations

from pathlib import Path

from backtest.core.errors import WfbtError


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Each run's folder name; with as many parent folders as it takes to tell them apart."""
    parts = [Path(d).resolve().parts for d in run_dirs]
    for k in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(d) for d in run_dirs]  # pragma: no cover - distinct folders always differ somewhere


def refuse_repeated(run_dirs: list[str]) -> None:
    """Refuse a run folder named twice (also as two spellings of one path)."""
    seen: dict[Path, str] = {}
    for d in run_dirs:
        key = Path(d).resolve()
        if key in seen:
            same = f"{d!r}" if seen[key] == d else f"{seen[key]!r} and {d!r}"
            raise WfbtError(f"run folder {same} is given twice to compare (the same run). Name each run once, "
                            "e.g. wfbt compare runs/a runs/b.")
        seen[key] = d
