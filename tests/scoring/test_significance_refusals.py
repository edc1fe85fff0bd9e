"""The model confidence set at price scales where it used to fail."""

import numpy as np
import pandas as pd

from backtest.scoring.significance import model_confidence_set


def test_the_model_confidence_set_works_at_any_price_scale():
    rng = np.random.default_rng(3)
    base = rng.normal(1.0, 0.3, 300) ** 2
    losses = pd.DataFrame({"good": base, "also": base + rng.normal(0, 0.05, 300), "bad": base * 3})
    normal = model_confidence_set(losses, 0.1, 300, 0)
    tiny = model_confidence_set(losses * 1e-12, 0.1, 300, 0)  # squared errors of a token priced near 3e-5
    assert not tiny.isna().any() and (normal > 0.1).equals(tiny > 0.1)
