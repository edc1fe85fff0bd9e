"""Price columns: the fields wfbt reads, and every header spelling a source may use for them.

Below both the file readers (backtest.data.load) and the network sources (backtest.data.yahoo, .tej), which rename
what they read with ``normalise_columns`` before the checks in one place (backtest.data.load).
"""

from __future__ import annotations

import pandas as pd

from backtest.core.errors import DataError

FIELDS = ("open", "high", "low", "close", "volume")
PRICE_FIELDS = ("open", "high", "low", "close")

# Header spellings seen in the wild, lower-cased, mapped to our field names.
ALIASES = {
    "date": "date", "datetime": "date", "timestamp": "date", "mdate": "date", "time": "date",
    "open": "open", "open_d": "open",
    "high": "high", "high_d": "high",
    "low": "low", "low_d": "low",
    "close": "close", "close_d": "close",
    "adj close": "adj_close", "adj_close": "adj_close", "adjclose": "adj_close",
    "volume": "volume", "vol": "volume",
}


def normalise_columns(frame: pd.DataFrame, mapping: dict[str, str] | None = None, origin: str = "data"
                      ) -> pd.DataFrame:
    """Rename known header spellings (Yahoo, TEJ, lower-case) or an explicit mapping to our fields.

    Two headers that mean the same field (``Close`` twice, or ``Date`` and ``Time``) are refused by name.
    """
    if mapping:
        unknown = [c for c in mapping if c not in frame.columns]
        if unknown:
            raise DataError(
                f"{origin}: data.columns maps {unknown} but the file has columns {list(frame.columns)}. "
                "Fix the mapping's keys to match the header."
            )
        frame = frame.rename(columns=mapping)
    names = [ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in frame.columns]
    for field in ("date", *FIELDS):
        clash = [str(c) for c, n in zip(frame.columns, names, strict=True) if n == field]
        if len(clash) > 1:
            raise DataError(
                f"{origin}: the columns {clash} all mean {field}. Keep one: remove or rename the others, or map "
                f"the one to use with data.columns = {{{clash[0]} = \"{field}\"}} and rename the rest."
            )
    out = frame.copy()
    out.columns = names
    return out
