"""Strategy evaluation on candles: backtests, signal scorecards and walk-forward searches.

The nouns: `Backtest` (signals of rules -> positions -> trades and figures), `Scorecard`
(what happens after each signal) and `Search` (which parameters, in and out of sample).
"""

from cryptosignals.backtest.core import (
    STRATEGIES,
    Backtest,
    BacktestConfig,
    BacktestResult,
    Trade,
    make_rule,
    simulate,
)
from cryptosignals.backtest.metrics import Metrics, bars_per_year

__all__ = [
    "STRATEGIES",
    "Backtest",
    "BacktestConfig",
    "BacktestResult",
    "Metrics",
    "Trade",
    "bars_per_year",
    "make_rule",
    "simulate",
]
