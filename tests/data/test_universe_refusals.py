"""Universe files that cannot be used end in a message naming the problem and the fix, never a traceback."""

import pandas as pd
import pytest

from backtest.core.errors import DataError
from backtest.data.universe import load_universe
from tests.conftest import synthetic_prices


def wide(tmp_path, rename):
    frame = pd.DataFrame({s: synthetic_prices(60, seed=k)["close"] for k, s in enumerate(["S0", "S1", "S2", "S3"])})
    path = tmp_path / "w.csv"
    frame.rename_axis("Date").reset_index().rename(columns=rename).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("rename", "message"), [
    ({"S1": "S0"}, "the wide file has more than one column for S0. Keep one column per symbol (rename or remove the "
                   "others); wfbt does not merge them."),
    ({"S1": ""}, "column 3 of the wide file has no symbol in its header. Name every close column after its symbol"),
])
def test_a_wide_files_symbol_headers_are_named_once_each(tmp_path, rename, message):
    with pytest.raises(DataError) as info:  # a repeated header was a ValueError from pandas, an empty one a symbol ''
        load_universe(str(wide(tmp_path, rename)), layout="wide", min_symbols=2)
    assert message in str(info.value)


def test_the_totals_warning_names_no_empty_list_and_points_at_symbols_csv(tmp_path):
    """A clean universe: no jump is named, so no empty '()' follows the count; the reasons live in symbols.csv."""
    import warnings

    import numpy as np
    import pandas as pd

    from backtest.data.universe import load_universe

    days = pd.bdate_range("2020-01-01", periods=30)
    rows = []
    for s, sym in enumerate(["AAA", "BBB"]):
        close = 100 + s + np.arange(30) * 0.1
        rows += [{"date": d.date().isoformat(), "symbol": sym, "open": c, "high": c + 1, "low": c - 1, "close": c,
                  "volume": 1000} for d, c in zip(days, close, strict=True)]
    path = tmp_path / "u.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_universe(str(path))
    text = " ".join(str(w.message) for w in caught)
    assert "0 one-day move(s) over the jump limit kept;" in text and "()" not in text
    assert "symbols.csv" in text
