"""Group-neutral books by hand, IC within groups, and a universe run with groups end to end."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from backtest.core.errors import ConfigError, DataWarning
from backtest.engine.universe import _books, demeaned, run_universe
from backtest.runs.universe import metrics
from backtest.scoring import crosssection as xs
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")

DAYS = pd.bdate_range("2024-01-01", periods=2)
# Group X holds A, B, C; group Y holds D, E, F; G has no group. Y's scores are all higher than X's.
SCORES = pd.DataFrame({"A": [1.0, 3.0], "B": [2.0, 2.0], "C": [3.0, 1.0], "D": [10.0, 10.0], "E": [11.0, 12.0],
                       "F": [12.0, 11.0], "G": [50.0, 50.0]}, index=DAYS)
GROUPS = pd.Series({"A": "X", "B": "X", "C": "X", "D": "Y", "E": "Y", "F": "Y"})
CLOSE = pd.DataFrame(10.0, index=DAYS, columns=SCORES.columns)


def _weights(tmp_path, neutral, books="['long_short', 'long_only']"):
    config = universe_config(tmp_path / "x.csv", "universe.k=1", "universe.min_symbols=4", "strategies.rules=[]",
                             f"universe.books={books}", f"universe.groups={str(tmp_path / 'g.csv')!r}",
                             f"universe.neutral={neutral!r}")
    return _books({"s": SCORES}, config, CLOSE, DAYS, GROUPS)


def test_within_takes_the_top_and_bottom_of_each_group_the_groups_weighing_equally(tmp_path):
    w = _weights(tmp_path, "within")
    # Day 0: X long C short A, Y long F short D; each group's legs 0.5 / -0.5 of its half: 0.25 a name.
    assert w["s:long_short"].iloc[0].to_dict() == {"A": -0.25, "B": 0.0, "C": 0.25, "D": -0.25, "E": 0.0,
                                                    "F": 0.25, "G": 0.0}
    assert w["s:long_only"].iloc[1].to_dict() == {"A": 0.5, "B": 0.0, "C": 0.0, "D": 0.0, "E": 0.5, "F": 0.0,
                                                   "G": 0.0}


def test_demean_ranks_the_scores_less_their_groups_mean(tmp_path):
    d = demeaned(SCORES, GROUPS)
    assert d.iloc[0].tolist()[:6] == [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0] and np.isnan(d.iloc[0, 6])
    w = _weights(tmp_path, "demean")
    # Day 1: demeaned A +1, B 0, C -1, D -1, E +1, F 0: the best is A, the worst D (ties by name: the first name
    # ranks higher, so of C and D the bottom is D); G is out.
    assert w["s:long_short"].iloc[1].to_dict() == {"A": 0.5, "B": 0.0, "C": 0.0, "D": -0.5, "E": 0.0, "F": 0.0,
                                                    "G": 0.0}
    plain = _books({"s": SCORES}, universe_config(tmp_path / "x.csv", "universe.k=1", "universe.min_symbols=4",
                                                  "strategies.rules=[]"), CLOSE, DAYS)
    assert plain["s:long_short"].iloc[1]["G"] == 0.5  # without groups G, the highest score, is bought


def test_ic_within_each_group_by_hand():
    ahead = pd.DataFrame({"A": [0.01, 0.03], "B": [0.02, 0.02], "C": [0.03, 0.01], "D": [0.03, 0.0],
                          "E": [0.02, 0.01], "F": [0.01, 0.02], "G": [0.0, 0.0]}, index=DAYS)
    table = xs.group_ic(SCORES, ahead, GROUPS)
    assert table.loc["X", "ic"] == pytest.approx(1.0) and table.loc["Y", "ic"] == pytest.approx(-0.5 * (1 - 0.5))
    assert table.loc["X", "stocks"] == 3 and table.loc["Y", "days"] == 2


def test_settings_that_need_groups_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="universe.neutral = 'demean' needs groups"):
        universe_config(tmp_path / "x.csv", "universe.neutral='demean'")
    with pytest.raises(ConfigError, match="topk_dropout keeps one list across the groups"):
        universe_config(tmp_path / "x.csv", "universe.groups='g.csv'", "universe.neutral='within'")


def test_a_run_with_groups_writes_the_ic_within_each_group(tmp_path):
    frames = synthetic_universe(8, 300)
    path = write_long_csv(frames, tmp_path / "long.csv")
    (tmp_path / "g.csv").write_text("Name,sector\nS0,a\nS1,a\nS2,a\nS3,a\nS4,b\nS5,b\nS6,b\n", encoding="utf-8")
    result = run_universe(universe_config(path, f"universe.groups={str(tmp_path / 'g.csv')!r}",
                                          "universe.neutral='demean'"))
    assert set(result.group_ic.index.get_level_values("group")) == {"a", "b"}
    assert (result.weights["reversal:long_short"]["S7"] == 0).all()  # no group: out of the neutral books
    records = json.loads(json.dumps(metrics(result), default=float))["ic_by_group"]
    assert {r["scorer"] for r in records} >= {"reversal", "naive"} and len(records) == 2 * len(result.scores)


def test_the_console_headline_counts_the_groups():
    from backtest.report.console import group_headline

    # group c has no IC (too few names or days): the line counts the groups the mean is over, not all three
    table = pd.DataFrame({"group": ["a", "b", "c", "a", "b", "c"], "ic": [0.02, -0.01, np.nan, np.nan, np.nan, np.nan]},
                         index=pd.Index(["lstm", "lstm", "lstm", "naive", "naive", "naive"], name="scorer"))
    line = group_headline(table)
    assert line.startswith("IC within groups: 2 of 3 groups with an IC, mean over those: lstm +0.0050 (1/2 > 0) (each")
    assert "naive" not in line
    for width in (60, 80):  # rich wraps it at spaces: every word whole, no line over the width
        buf = io.StringIO()
        Console(file=buf, width=width, color_system=None).print(line, highlight=False)
        assert max(len(x) for x in buf.getvalue().splitlines()) <= width
        assert " ".join(buf.getvalue().split()) == line


def test_wfbt_run_with_groups_prints_the_headline_and_show_reads_it_back(tmp_path):
    from typer.testing import CliRunner

    from backtest.cli.app import app
    from tests.conftest import UNIVERSE_TINY

    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    (tmp_path / "g.csv").write_text("Name,sector\nS0,a\nS1,a\nS2,a\nS3,a\nS4,b\nS5,b\nS6,b\nS7,b\n", encoding="utf-8")
    args = ["run", "--out", str(tmp_path / "runs"), "--set", "data.source='csv'", "--set", f"data.path={str(path)!r}",
            "--set", f"universe.groups={str(tmp_path / 'g.csv')!r}", "--set", "universe.neutral='demean'"]
    for item in UNIVERSE_TINY:
        args += ["--set", item]
    out = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "IC within groups: 2 of 2 groups with an IC, mean over those: reversal" in " ".join(out.output.split())
    (run_dir,) = (tmp_path / "runs").iterdir()
    shown = CliRunner().invoke(app, ["show", str(run_dir)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert "2 of 2 groups with an IC" in " ".join(shown.output.split())


def _within_config(tmp_path, k, books="['long_short']"):
    return universe_config(tmp_path / "x.csv", f"universe.k={k}", "universe.min_symbols=4", "strategies.rules=[]",
                           f"universe.books={books}", f"universe.groups={str(tmp_path / 'g.csv')!r}",
                           "universe.neutral='within'")


def test_within_refuses_when_no_group_can_hold_the_books_names(tmp_path):
    from backtest.engine.universe import _check_within

    # X holds 3 names, Y 3: long_short with k = 2 needs 4 a group, long_only 2
    with pytest.raises(ConfigError, match=r"largest group holds 3 names .* Lower universe.k to 1 or less, or use "
                                          r"neutral = \"demean\""):
        _check_within(GROUPS, CLOSE, _within_config(tmp_path, 2))
    _check_within(GROUPS, CLOSE, _within_config(tmp_path, 2, "['long_only']"))  # 2 of 3: fine


def test_within_warns_naming_the_groups_too_small_for_the_book(tmp_path):
    from backtest.engine.universe import _check_within

    close = CLOSE.assign(C=[np.nan, np.nan])  # X holds A, B only: k = 1 long_short (2 names) fits, k = 2 does not
    groups = pd.concat([GROUPS, pd.Series({"G": "Y"})])  # Y: D, E, F, G
    with pytest.warns(DataWarning, match=r"1 of 2 groups never hold the 4 names .*: X \(2\)"):
        _check_within(groups, close, _within_config(tmp_path, 2))


def test_a_within_run_too_small_for_k_is_refused_before_training(tmp_path):
    path = write_long_csv(synthetic_universe(8, 300), tmp_path / "long.csv")
    (tmp_path / "g.csv").write_text("Name,sector\nS0,a\nS1,a\nS2,a\nS3,b\nS4,b\nS5,b\nS6,b\n", encoding="utf-8")
    config = universe_config(path, f"universe.groups={str(tmp_path / 'g.csv')!r}", "universe.neutral='within'",
                             "universe.k=3", "universe.min_symbols=6", "universe.books=['long_short']")
    with pytest.raises(ConfigError, match="largest group holds 4 names"):
        run_universe(config)
