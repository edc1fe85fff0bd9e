"""The settings reference: generated from the config's definitions, reachable from --help, never stale."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.cli.settings import settings_markdown
from backtest.core.config import NetworkSection, RunConfig, load_config
from backtest.core.settings import settings
from backtest.sweep.spec import SWEEP_KEYS, load_sweep
from tests.conftest import said

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_docs_settings_page_is_the_generated_one():
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert page == settings_markdown(), "docs/settings.md is stale: run `wfbt settings --markdown > docs/settings.md`"


def test_every_key_has_a_description_and_every_config_key_is_listed():
    rows = settings()
    lacking = [s.key for s in rows if len(s.description) < 10]
    assert not lacking, f"add a trailing # comment to these fields in backtest/core/config.py: {lacking}"
    keys = {f"{section}.{key}" for section, values in RunConfig().to_dict().items() for key in values}
    keys |= {f"universe.{k}" for k in RunConfig().universe.__dataclass_fields__}
    keys |= {f"networks.NAME.{k}" for k in NetworkSection.__dataclass_fields__}  # any [networks.NAME] table
    assert keys == {s.key for s in rows}
    assert all(len(text) > 20 for text in SWEEP_KEYS.values())


def test_reference_reads_types_defaults_choices_and_ranges():
    by_key = {s.key: s for s in settings()}
    window = by_key["walkforward.window"]
    assert (window.type, window.default, window.choices) == ("string", '"rolling"', ("rolling", "expanding"))
    assert "volume" in by_key["forecast.features"].choices and "close" in by_key["forecast.features"].description
    assert by_key["training.lr"].range == "a learning rate in (0, 1], e.g. 0.001"
    assert by_key["forecast.lookback"].range == "positive"
    assert by_key["run.threads"].type == "integer or unset" and by_key["run.threads"].default == "(not set)"
    assert by_key["data.start"].default == '"2011-01-01"'  # the built-in run's, as configs/default.toml


def test_settings_command_prints_a_section_at_80_columns():
    result = runner.invoke(app, ["settings", "walkforward"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "expanding" in result.output and "train_days" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    sweep = runner.invoke(app, ["settings", "sweep"], env={"COLUMNS": "80"})
    assert "symbols_dir" in sweep.output and "relative to the" in sweep.output


def test_settings_command_refuses_an_unknown_section_by_name():
    result = runner.invoke(app, ["settings", "walkfoward"])
    assert result.exit_code == 2
    assert "no settings section 'walkfoward'. Did you mean 'walkforward'?" in said(result)


def test_run_help_names_the_settings_reference():
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "wfbt settings" in said(result) and "docs/settings.md" in said(result)


def test_default_config_comments_list_the_choices():
    text = (ROOT / "configs" / "default.toml").read_text(encoding="utf-8")
    for choice in ('"expanding"', '"volume"', '"level"', '"minmax"', '"close"', '"any"'):
        assert choice in text, choice
    load_config(ROOT / "configs" / "default.toml")  # still the default run


def test_sweep_csv_path_beside_the_file_is_refused_naming_what_is_read(tmp_path, monkeypatch):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    (folder / "p.csv").write_text("Date,Close\n")
    (folder / "s.toml").write_text('[sweep]\nsymbols = ["csv:p.csv"]\n[grid]\n"forecast.lookback" = [5]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception) as info:
        load_sweep("sweeps/s.toml")
    message = str(info.value)
    assert "relative to the current directory, like data.path" in message and "csv:sweeps/p.csv" in message
    result = runner.invoke(app, ["sweep", "sweeps/s.toml", "--plan"])
    assert result.exit_code == 2 and "only sweep.base is relative to the sweep file" in said(result)
    monkeypatch.chdir(folder)  # from the file's folder the same path is read
    assert load_sweep("s.toml").symbols == ["csv:p.csv"]
