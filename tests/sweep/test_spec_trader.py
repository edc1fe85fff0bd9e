"""The trader settings (strategies.direction, sizing, stops; backtest.borrow) as sweep grid keys (sweep.spec)."""

import pytest

from backtest.core.errors import ConfigError
from backtest.sweep.spec import load_sweep, make_cells
from tests.conftest import sweep_text

GRID = ("'strategies.direction' = ['long', 'both']\n'strategies.sizing' = ['all_in', 'vol_target']\n"
        "'strategies.stop_loss' = [0, 0.05]\n'backtest.borrow' = [0.01]")


def test_every_trader_key_is_a_grid_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(grid=GRID))
    cells = make_cells(load_sweep(path), tmp_path / "out")
    assert len(cells) == 8
    got = {(c.config.strategies.direction, c.config.strategies.sizing, c.config.strategies.stop_loss) for c in cells}
    assert got == {(d, s, x) for d in ("long", "both") for s in ("all_in", "vol_target") for x in (0.0, 0.05)}
    assert {c.config.backtest.borrow for c in cells} == {0.01}
    assert len({c.name for c in cells}) == 8  # each cell its own folder


def test_a_bad_trader_grid_value_is_refused_naming_its_cell(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(sweep_text(grid="'strategies.max_leverage' = [1.0, 2.0]"))
    with pytest.raises(ConfigError, match="strategies.max_leverage must be a cap in"):
        make_cells(load_sweep(path), tmp_path / "out")
