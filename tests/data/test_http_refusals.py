"""HTTP settings from the environment that would retry forever or wait for ever are refused."""

import pytest


@pytest.mark.parametrize(("name", "value", "message"), [
    ("WFBT_HTTP_RETRIES", "1000000", "WFBT_HTTP_RETRIES: expected a whole number from 0 to 10, e.g. 3."),
    ("WFBT_HTTP_BACKOFF", "3600", "WFBT_HTTP_BACKOFF: expected a number of seconds from 0 to 30, e.g. 1."),
])
def test_retries_and_backoff_are_bounded(monkeypatch, name, value, message):
    from backtest.core.errors import ConfigError
    from backtest.data.http import HttpPolicy
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        HttpPolicy.from_env()
