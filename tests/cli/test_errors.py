"""No input ever shows a user a raw traceback: every kind of messy input through the real `wfbt` entry point.

Settings, run folders and commands end with a message and exit 2. The data-file cases are simple
stand-ins (the loader's own tests pin their messages): each must end in a message or a finished run,
never a traceback. An error nothing checked for gets the last-resort message and exit 1.
"""

import gzip
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app, main
from backtest.runs.folder import is_complete
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv

runner = CliRunner()


def tiny(csv):
    args = ["--set", "data.source='csv'", "--set", f"data.path={str(csv)!r}"]
    for item in TINY:
        args += ["--set", item]
    return args


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One real finished run to damage (copied per case)."""
    tmp = tmp_path_factory.mktemp("finished")
    csv = write_yahoo_csv(synthetic_prices(300), tmp / "p.csv")
    result = runner.invoke(app, ["run", "--quiet", "--out", str(tmp / "runs"), "--set", "run.name='done'",
                                 *tiny(csv)])
    assert result.exit_code == 0, result.output
    return tmp / "runs" / "done"


def copy_run(finished, tmp_path, name="r"):
    return Path(shutil.copytree(finished, tmp_path / name))


def cut(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def price_file(tmp_path, change):
    """A CSV of synthetic prices in Yahoo's layout, then ``change(frame) -> text or bytes``."""
    frame = synthetic_prices(300).rename(columns=str.title).rename_axis("Date").reset_index()
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    content = change(frame)
    path = tmp_path / "prices.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def with_value(value):
    def change(frame):
        frame.loc[100, ["Open", "High", "Low", "Close"]] = value
        return frame.to_csv(index=False)
    return change


def constant(frame):
    frame[["Open", "High", "Low", "Close"]] = 100.0
    return frame.to_csv(index=False)


def xlsx_bytes(frame):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", frame.to_csv(index=False))
    return buf.getvalue()


def epoch_dates(frame):
    frame["Date"] = (np.arange(len(frame)) * 86400 + 1_420_070_400).astype(str)
    return frame.to_csv(index=False)


def day_first(frame):
    frame["Date"] = [f"{d[8:10]}/{d[5:7]}/{d[0:4]}" for d in frame["Date"]]
    return frame.to_csv(index=False)


def utc_offsets(frame):
    frame["Date"] = frame["Date"] + "T00:00:00+08:00"
    return frame.to_csv(index=False)


# Data-file stand-ins: (id, change, may the loader read it correctly?)
DATA_CASES = [
    ("header-only CSV", lambda f: f.head(0).to_csv(index=False), False),
    ("inf prices", with_value(float("inf")), False),
    ("1e308 prices", with_value(1e308), False),
    ("constant prices", constant, True),
    ("semicolon CSV", lambda f: f.to_csv(index=False, sep=";"), True),
    ("tab CSV", lambda f: f.to_csv(index=False, sep="\t"), True),
    ("decimal commas", lambda f: f.to_csv(index=False, sep=";", decimal=","), True),
    ("thousands separators", lambda f: f.assign(Close=[f'"{v:,.2f}"' for v in f["Close"] * 20]).to_csv(
        index=False, quoting=3, escapechar="\\"), True),
    ("epoch-second dates", epoch_dates, True),
    ("day-first dates", day_first, True),
    ("UTC offset dates", utc_offsets, True),
    ("gzip renamed .csv", lambda f: gzip.compress(f.to_csv(index=False).encode()), True),
    ("Excel renamed .csv", xlsx_bytes, False),
    ("empty file", lambda f: "", False),
    ("binary garbage", lambda f: bytes(range(256)) * 20, False),
]


@pytest.mark.parametrize("change, may_succeed", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_data_files_end_in_a_message_or_a_finished_run(tmp_path, change, may_succeed):
    csv = price_file(tmp_path, change)
    out = tmp_path / "runs"
    result = runner.invoke(app, ["run", "--quiet", "--out", str(out), *tiny(csv), "--set", "data.start='2014-01-01'"],
                           env={"COLUMNS": "200"})
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit | None), result.output
    if result.exit_code == 0:
        assert may_succeed and is_complete(Path(result.output.strip().splitlines()[-1]))
    else:
        assert result.exit_code in (1, 2, 3) and result.output.startswith(("error:", "warning:")), result.output


def settings_case(*sets):
    def make(tmp_path, finished):
        csv = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
        args = ["run", "--quiet", "--out", str(tmp_path / "runs"), *tiny(csv)]
        for item in sets:
            args += ["--set", item]
        return args
    return make


def out_case(kind):
    def make(tmp_path, finished):
        csv = write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
        out = tmp_path / "file.txt" if kind == "file" else Path("/proc/wfbt-runs")
        out.parent.mkdir(exist_ok=True) if kind == "file" else None
        if kind == "file":
            out.write_text("x")
        return ["run", "--quiet", "--out", str(out), *tiny(csv)]
    return make


def latin1_config(tmp_path, finished):
    path = tmp_path / "latin1.toml"
    path.write_bytes('# prix en €? non: en francs suisses, café\n[run]\nname = "x"\n'.encode("latin-1", "replace"))
    return ["plan", str(path)]


def compare_case(damage):
    def make(tmp_path, finished):
        run = copy_run(finished, tmp_path)
        if damage == "twice":
            return ["compare", str(run), str(run)]
        if damage == "not a run":
            (tmp_path / "photos").mkdir()
            return ["compare", str(run), str(tmp_path / "photos")]
        if damage == "manifest list":
            (run / "manifest.json").write_text("[1, 2]")
        elif damage == "manifest keys":
            text = (run / "manifest.json").read_text()
            (run / "manifest.json").write_text(text.replace('"out_of_sample"', '"out_of_sampel"'))
        elif damage == "state.json":
            (run / ".incomplete").write_text("")
            (run / "partial").mkdir()
            (run / "partial" / "state.json").write_text("{not json")
            return ["run", "--quiet", "--resume", "--out", str(tmp_path), "--set", "run.name='r'",
                    *tiny(tmp_path / "p.csv")]
        else:
            cut(run / damage)
        return ["compare", str(finished), str(run)]
    return make


# Settings, run folders and commands: (id, make(tmp_path, finished) -> wfbt args)
COMMAND_CASES = [
    ("training.lr = nan", settings_case("training.lr=nan")),
    ("threshold = nan", settings_case("strategies.threshold=nan")),
    ("bollinger_k = inf", settings_case("strategies.bollinger_k=inf")),
    ("init_cash = nan", settings_case("backtest.init_cash=nan")),
    ("run.name escapes", settings_case("run.name='../../x'")),
    ("run.name absolute", settings_case("run.name='/tmp/x'")),
    ("run.name empty", settings_case("run.name=''")),
    ("--out is a file", out_case("file")),
    ("--out read-only", out_case("read-only")),
    ("Latin-1 config", latin1_config),
    ("compare RUN RUN", compare_case("twice")),
    ("compare cut predictions.csv", compare_case("predictions.csv")),
    ("compare cut equity.csv", compare_case("equity.csv")),
    ("compare cut metrics.json", compare_case("metrics.json")),
    ("manifest missing keys", compare_case("manifest keys")),
    ("manifest not an object", compare_case("manifest list")),
    ("folder that is not a run", compare_case("not a run")),
    ("resume a damaged checkpoint", compare_case("state.json")),
    ("--threads 0", settings_case("run.threads=0")),
]


@pytest.mark.parametrize("make", [c[1] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES])
def test_settings_folders_and_commands_end_in_a_message(tmp_path, finished, make):
    if make is COMMAND_CASES[-2][1]:
        write_yahoo_csv(synthetic_prices(300), tmp_path / "p.csv")
    result = runner.invoke(app, make(tmp_path, finished), env={"COLUMNS": "200"})
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "error: " in result.output and "Traceback" not in result.output


def test_an_unexpected_error_is_one_message_with_the_traceback_kept(tmp_path, monkeypatch):
    """The last resort: a bug prints what failed, that it is a bug or the environment, and where the traceback is."""
    import backtest.report.plan

    def bug(config):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(backtest.report.plan, "single_plan", bug)
    monkeypatch.delenv("WFBT_DEBUG", raising=False)
    result = runner.invoke(app, ["plan"], env={"COLUMNS": "400"})
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert text.startswith("error: wfbt plan failed unexpectedly: ZeroDivisionError: division by zero This is a bug "
                           "in wfbt or a problem with this machine's environment")
    where = Path(text.split("The full traceback is in ")[1].split(";")[0])
    assert "Traceback" in where.read_text() and "def bug" not in text
    assert "\nwfbt --debug plan ...\nor WFBT_DEBUG=1 prints the full traceback." in result.output  # its own line
    where.unlink()
    debug = runner.invoke(app, ["--debug", "plan"])
    assert isinstance(debug.exception, ZeroDivisionError)  # --debug lets the traceback through
    monkeypatch.setenv("WFBT_DEBUG", "1")
    assert isinstance(runner.invoke(app, ["plan"]).exception, ZeroDivisionError)


def test_an_unexpected_error_in_the_installed_script(tmp_path, monkeypatch):
    """Through `main`, the installed script's entry: exit 1, no traceback unless WFBT_DEBUG=1.

    The plain case runs in a fresh interpreter as a user runs it (typer's own exception display included); the
    WFBT_DEBUG=1 case calls the same `main` in-process: the traceback must get through it."""
    config = tmp_path / "c.toml"
    config.write_text("[run]\nname = 'x'\n")
    code = ("import sys, backtest.report.plan as p; p.single_plan = lambda c: 1 / 0; "
            "sys.argv = ['wfbt', 'plan', sys.argv[1]]; "
            "from backtest.cli.app import main; main()")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("WFBT_DEBUG", None)
    plain = subprocess.run([sys.executable, "-c", code, str(config)], env=env, capture_output=True, text=True)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr and "failed unexpectedly" in plain.stderr
    import backtest.report.plan

    monkeypatch.setattr(backtest.report.plan, "single_plan", lambda c: 1 / 0)
    monkeypatch.setattr(sys, "argv", ["wfbt", "plan", str(config)])
    monkeypatch.setenv("WFBT_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main()
