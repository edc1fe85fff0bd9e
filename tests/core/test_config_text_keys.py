"""Text keys given numbers: --set keeps the text typed, a file is told to quote it."""

import pytest

from backtest.core.errors import ConfigError


def test_a_number_given_to_a_text_key_is_that_text():
    from backtest.core.config import load_config

    assert load_config(None, ["data.symbol=2330"]).data.symbol == "2330"
    assert load_config(None, ["data.symbol=0050"]).data.symbol == "0050"  # not valid TOML: a bare string
    assert load_config(None, ["data.symbol=1.50"]).data.symbol == "1.50"  # the text typed, not 1.5
    assert load_config(None, ["run.name=2024"]).run.name == "2024"
    assert load_config(None, ["training.epochs=7"]).training.epochs == 7  # ints stay ints for int keys
    with pytest.raises(ConfigError, match=r"training.lr: expected a number. Got 'fast'."):
        load_config(None, ["training.lr=fast"])


def test_a_number_for_a_text_key_in_a_file_says_to_quote_it(tmp_path):
    from backtest.core.config import load_config

    path = tmp_path / "c.toml"
    path.write_text("[data]\nsource = \"tej\"\nsymbol = 2330\n")
    with pytest.raises(ConfigError, match=r'^data.symbol: expected a string. Got 2330. Quote it: symbol = "2330".$'):
        load_config(path)
