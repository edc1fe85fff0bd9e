"""[networks.NAME] tables and the [training] options: what they build, and every refusal naming its fix."""

import subprocess
import sys
from pathlib import Path

import pytest

from backtest.core.config import load_config
from backtest.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PAPER = ["networks.paper.cell=gru", "networks.paper.hidden=[50, 50, 50]", "forecast.models=['paper', 'lstm25']"]


def test_a_network_table_builds_an_architecture_a_model_name_may_use():
    config = load_config(None, [*PAPER, "forecast.features=['open', 'high', 'low', 'close', 'volume']"])
    paper = config.architectures()["paper"]
    assert (paper.cell, paper.hidden, paper.dropout) == ("gru", (50, 50, 50), 0.2)  # dropout: the table's default
    assert paper.n_params(len(config.forecast.features)) == 39_201  # the S&P 500 paper's count, by hand: see docs
    assert config.architectures()["lstm25"].n_params(1) == 4 * 25 * (1 + 25 + 2) + 25 + 1


def test_the_default_training_settings_are_todays():
    tr = load_config().training
    assert (tr.optimizer, tr.momentum, tr.loss, tr.shuffle, tr.restore_best, tr.early_stopping) == (
        "adam", 0.0, "mse", True, True, True)
    assert "networks" not in load_config().to_dict()  # files and resume identities without networks are unchanged


@pytest.mark.parametrize(("sets", "message"), [
    (["networks.lstm.hidden=[8]"], "[networks.lstm]: 'lstm' is already a preset (see `wfbt models`). Give the "
                                   "network a name of its own, e.g. [networks.lstm_custom]."),
    (["networks.linear.hidden=[8]"], "'linear' is already a baseline"),
    (["networks.x.hidden=[]"], "networks.x.hidden must list the units of 1 to 4 layers, each from 1 to 1024, "
                               "e.g. hidden = [50, 50, 50]. Got []."),
    (["networks.x.hidden=[8, 8, 8, 8, 8]"], "Got [8, 8, 8, 8, 8]."),
    (["networks.x.hidden=[0]"], "each from 1 to 1024"),
    (["networks.x.dropout=1.0"], "networks.x.dropout must be a fraction in [0, 1), e.g. 0.2 (0 = none). Got 1.0."),
    (["networks.x.dropout=nan"], "networks.x.dropout: expected a finite number. Got nan."),
    (["networks.x.cell='rnn'"], "networks.x.cell: expected one of 'lstm', 'gru'. Got 'rnn'."),
    (["networks.x.units=[8]"], "[networks.x] has no key 'units'."),
    (["networks.x.hidden=[8]", "forecast.models=['y']"], "forecast.models: unknown model 'y'."),
    (["training.optimizer='adamw'"], "training.optimizer: expected one of 'adam', 'rmsprop', 'sgd'. Got 'adamw'. "
                                     "Did you mean 'adam'?"),
    (["training.loss='l2'"], "training.loss: expected one of 'mse', 'mae', 'huber', 'bce'. Got 'l2'."),
    (["training.optimizer='sgd'", "training.momentum=1.0"], "training.momentum must be in [0, 1), e.g. 0.9. Got 1.0."),
    (["training.momentum=0.9"], 'training.momentum applies to optimizer = "sgd" only'),
    (["training.loss='bce'"], 'training.loss = "bce" needs 0/1 targets: a universe run with universe.target = '
                              '"above_median".'),
    (["universe.enabled=true", "universe.target='above_median'", "forecast.models=['lstm']"],
     'universe.target = "above_median" trains forecast.models (lstm) on 0/1 labels, which takes training.loss = '
     '"bce" (binary cross-entropy; the forecast is the probability of beating the median). Got training.loss = '
     '\'mse\'. Set training.loss = "bce", or universe.target = "return" to forecast returns.'),
    (["training.patience=0"], "training.patience must be positive (epochs without improvement before a member "
                              "stops). Got 0. To train every epoch, set training.early_stopping = false."),
    (["training.shuffle=1"], "training.shuffle: expected true or false. Got 1."),
])
def test_bad_network_and_training_settings_are_refused_by_name(sets, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, sets)
    assert message in str(info.value)


@pytest.mark.parametrize(("sets", "message"), [
    (["--set", "training.optimizer=adamw"], "Did you mean 'adam'?"),
    (["--set", "networks.x.hidden=[1, 2, 3, 4, 5]"], "networks.x.hidden must list the units of 1 to 4 layers"),
])
def test_the_cli_refuses_them_with_exit_2_and_no_traceback(sets, message):
    result = subprocess.run([sys.executable, "-m", "backtest", "run", *sets], cwd=ROOT, capture_output=True,
                            text=True, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_the_networks_guides_example_builds_the_papers_network():
    import re
    import tomllib

    from backtest.core.config import from_dict

    (example,) = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "networks.md").read_text(), re.S)
    config = from_dict(tomllib.loads(example))
    assert config.architectures()["paper_gru"].n_params(len(config.forecast.features)) == 39_201
    assert (config.training.shuffle, config.training.restore_best, config.training.early_stopping) == (False,) * 3
