"""The HTTP settings (WFBT_HTTP_*) read from the environment and checked."""

from typer.testing import CliRunner

from backtest.cli.app import app


def test_http_settings_from_the_environment_are_checked(tej_server, monkeypatch):
    monkeypatch.setenv("WFBT_HTTP_TIMEOUT", "soon")
    result = CliRunner().invoke(app, ["data", "fetch", "tej:2330"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert ("error: WFBT_HTTP_TIMEOUT: expected a number of seconds above 0 and at most 600, e.g. 30. Got 'soon'. "
            "Fix or unset the environment variable.") in " ".join(result.output.split())
