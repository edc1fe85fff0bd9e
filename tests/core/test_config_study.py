"""The study protocol's settings: each wrong value refused with a message that names the fix."""

import pytest

from backtest.core.config import load_config
from backtest.core.errors import ConfigError

STUDY = ["walkforward.protocol='study'"]


@pytest.mark.parametrize(("sets", "message"), [
    (["forecast.scaler_fit='whole_series'"],
     'forecast.scaler_fit = "whole_series" fits the scaler on the test days too (look-ahead); it is allowed only to '
     'reproduce a study, with walkforward.protocol = "study". Set protocol = "study", or leave scaler_fit = "fold".'),
    ([*STUDY, "walkforward.study_val=0.1"],
     "walkforward.study_train + study_val + study_test must add up to 1, e.g. 0.8 + 0.1 + 0.1. Got 0.8 + 0.1 + 0.2 "
     "= 1.1."),
    ([*STUDY, "walkforward.study_test=1.0"], "walkforward.study_test is a fraction of the rows in [0, 1), e.g. 0.8. "
                                             "Got 1.0."),
    ([*STUDY, "walkforward.study_train=0.0", "walkforward.study_val=0.8"],
     "walkforward.study_train and study_test must be above 0 (rows to fit on and rows to score). Got 0.0 and 0.2."),
    (["walkforward.protocol='studdy'"], "walkforward.protocol: expected one of 'walkforward', 'study'. Got 'studdy'. "
                                        "Did you mean 'study'?"),
    (["forecast.layout='flatt'"], "forecast.layout: expected one of 'sequence', 'flat'. Got 'flatt'."),
    (["forecast.scaler_fit='whole'"], "forecast.scaler_fit: expected one of 'fold', 'whole_series'. Got 'whole'."),
])
def test_study_settings_that_mean_nothing_are_refused(sets, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, sets)
    assert message in str(err.value)


def test_the_studies_settings_load():
    cfg = load_config(None, [*STUDY, "forecast.scaler_fit='whole_series'", "forecast.layout='flat'",
                             "walkforward.study_val=0.1", "walkforward.study_test=0.1"])
    assert (cfg.walkforward.study_train, cfg.walkforward.study_val, cfg.walkforward.study_test) == (0.8, 0.1, 0.1)
    assert cfg.forecast.scaler_fit == "whole_series" and cfg.forecast.layout == "flat"


def test_the_default_run_is_walk_forward_with_the_scaler_fit_per_fold():
    cfg = load_config(None)
    assert cfg.walkforward.protocol == "walkforward" and cfg.forecast.scaler_fit == "fold"
    assert cfg.forecast.layout == "sequence"
