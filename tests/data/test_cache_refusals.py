"""A download cache folder that is a file is named."""

from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import said

runner = CliRunner()


def test_a_cache_dir_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("WFBT_CACHE_DIR", str(tmp_path / "cachefile"))
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "300", "WFBT_CACHE_DIR": str(tmp_path / "cachefile")})
    assert result.exit_code == 2 and "is a file, not a folder. Point WFBT_CACHE_DIR at a folder" in said(result)
