"""Indicators and signal rules: prices and forecasts in, positions out."""

from strategies.indicators import bollinger, macd
from strategies.signals import RULES, STANDALONE, edges, strategy_states

__all__ = ["bollinger", "macd", "RULES", "STANDALONE", "edges", "strategy_states"]
