"""Pure scoring functions: forecast and trading metrics, tests of significance, and the verdicts drawn from them."""
