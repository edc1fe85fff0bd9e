"""The settings reference reads each key's help from the comments beside its field: every help is whole and
belongs to its own key."""

import pytest

from backtest.core.settings import class_comments, settings, unfinished
from backtest.sweep.spec import OTHER_TABLES, SWEEP_KEYS

# The lines that once gave `universe.rules` the end of `universe.memory_gb`'s help.
SOURCE = '''
class Section:
    networks: str = "pooled"  # one network per fold on every stock, or one per stock
    memory_gb: float = 2.0  # GiB a chunk of folds may plan: the rest of a run of
    # 505 stocks takes ~1.2 GB, so the whole stays under 4 GB
    # the single-symbol rules run on every stock
    # (one book each)
    rules: list = None  # two, so the example stays fast
    # sizing: the share of equity a new position takes, held until it is closed
    sizing: str = "all_in"  # all_in = 1 (today)
    k: int = 10  # names per leg
'''


def test_every_key_has_a_whole_help():
    helps = {s.key: s.description for s in settings()} | {f"sweep.{k}": v for k, v in SWEEP_KEYS.items()} | OTHER_TABLES
    cut = {key: text for key, text in helps.items() if not text.strip() or unfinished(text)}
    assert not cut, f"help texts that stop mid-phrase: {cut}"


def test_a_trailing_comment_continued_on_the_next_lines_stays_with_its_key():
    helps = class_comments(SOURCE, "Section")
    assert helps["memory_gb"] == ("GiB a chunk of folds may plan: the rest of a run of 505 stocks takes ~1.2 GB, "
                                  "so the whole stays under 4 GB")
    assert helps["rules"] == ("the single-symbol rules run on every stock (one book each); "
                              "two, so the example stays fast")
    assert helps["networks"] == "one network per fold on every stock, or one per stock"
    assert helps["k"] == "names per leg"


def test_the_lines_above_and_the_trailing_comment_are_parted():
    assert class_comments(SOURCE, "Section")["sizing"] == (
        "sizing: the share of equity a new position takes, held until it is closed; all_in = 1 (today)")


def test_the_memory_and_rules_keys_of_the_real_config_keep_their_own_help():
    helps = {s.key: s.description for s in settings()}
    assert helps["universe.memory_gb"].endswith("folds beyond it train chunk after chunk")
    assert "505 stocks takes ~1.2 GB" in helps["universe.memory_gb"]
    assert helps["strategies.rules"].startswith("(a universe run: the rules on every stock")


@pytest.mark.parametrize(("text", "cut"), [
    ("the rest of a run of", True), ("one, two,", True), ("as follows:", True), ("held (until", True),
    ("fills happen at", True), ("so the whole stays under 4 GB", False), ("all_in = 1 (today)", False),
    ("[] = no rule books", False),
])
def test_unfinished_tells_a_cut_phrase(text, cut):
    assert unfinished(text) is cut
