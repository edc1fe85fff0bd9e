"""Indicators and signal rules: prices and forecasts in, positions out."""

from strategies.crosssection import dropout_step, long_short_top_k, long_top_k, topk_dropout
from strategies.indicators import bollinger, macd, rsi
from strategies.signals import RULES, STANDALONE, edges, strategy_states

__all__ = ["bollinger", "macd", "rsi", "RULES", "STANDALONE", "edges", "strategy_states",
           "long_short_top_k", "long_top_k", "topk_dropout", "dropout_step"]
