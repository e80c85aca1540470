"""Performance figures of an equity curve and a trades table: pure numpy, no clock.

Conventions (docs/backtesting.md):

- returns are simple per-bar returns of the equity marked at each bar's close, the first one
  against the starting cash;
- annualisation is for a 24/7 market: a year is 365 days, so 105,120 five-minute bars;
- Sharpe = mean / standard deviation (ddof=1) of the bar returns x sqrt(bars per year), no
  risk-free rate; Sortino uses the downside deviation sqrt(mean(min(r, 0)^2)) over all bars;
- max drawdown is the largest fall from a running peak, a fraction >= 0; Calmar = CAGR / it;
- win rate and profit factor are over closed trades; exposure is the share of bars that end
  with a position.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

YEAR_SECONDS = 365 * 86_400


def bars_per_year(interval_seconds: int) -> float:
    """Bars in a 365-day year of a market that never closes (105,120 for 5-minute bars)."""
    return YEAR_SECONDS / interval_seconds


@dataclass(frozen=True)
class Metrics:
    """The figures of one backtest (or of buy-and-hold over the same bars)."""

    start_equity: float
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    volatility: float  # annualised standard deviation of bar returns
    exposure: float
    n_trades: int
    n_closed: int
    win_rate: float
    profit_factor: float
    avg_trade_return: float
    fees: float

    def to_json(self) -> dict[str, float | int | None]:
        """Plain JSON: NaN and infinities become None."""
        out: dict[str, float | int | None] = {}
        for key, value in asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
            else:
                out[key] = value
        return out


def bar_returns(equity: np.ndarray, start_equity: float) -> np.ndarray:
    """Simple returns bar by bar, the first against the starting equity."""
    previous = np.concatenate([[start_equity], equity[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return equity / previous - 1.0


def max_drawdown(equity: np.ndarray, start_equity: float) -> float:
    """Largest peak-to-trough fall as a fraction >= 0 (0.25 = a quarter of the peak lost)."""
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(np.concatenate([[start_equity], equity]))[1:]
    return float(max(0.0, -np.min(equity / peak - 1.0)))


def drawdown_curve(equity: np.ndarray, start_equity: float) -> np.ndarray:
    """Drawdown at each bar, as a fraction <= 0."""
    peak = np.maximum.accumulate(np.concatenate([[start_equity], equity]))[1:]
    return equity / peak - 1.0


def sharpe(returns: np.ndarray, per_year: float) -> float:
    if len(returns) < 2:
        return math.nan
    sd = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / sd * math.sqrt(per_year) if sd > 0 else math.nan


def sortino(returns: np.ndarray, per_year: float) -> float:
    if len(returns) < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(np.mean(returns)) / downside * math.sqrt(per_year) if downside > 0 else math.nan


def cagr(start_equity: float, final_equity: float, years: float) -> float:
    if years <= 0 or start_equity <= 0:
        return math.nan
    if final_equity <= 0:
        return -1.0
    try:  # over a few bars the annual rate can exceed what a float holds
        return float(math.exp(math.log(final_equity / start_equity) / years) - 1.0)
    except OverflowError:
        return math.inf


def compute_metrics(
    equity: np.ndarray,
    units: np.ndarray,
    pnl: np.ndarray,
    trade_returns: np.ndarray,
    closed: np.ndarray,
    fees: float,
    start_equity: float,
    interval_seconds: int,
) -> Metrics:
    """All figures of `Metrics` from the equity at each close and the trades' results.

    pnl, trade_returns and closed have one value per trade (open trades included, marked to the
    last close; `closed` tells which are closed).
    """
    per_year = bars_per_year(interval_seconds)
    returns = bar_returns(equity, start_equity)
    final = float(equity[-1]) if len(equity) else start_equity
    years = len(equity) / per_year
    growth = cagr(start_equity, final, years)
    mdd = max_drawdown(equity, start_equity)
    done = pnl[closed]
    wins, losses = done[done > 0].sum(), -done[done < 0].sum()
    no_loss = math.inf if wins > 0 else math.nan
    profit_factor = float(wins / losses) if losses > 0 else no_loss
    return Metrics(
        start_equity=float(start_equity),
        final_equity=final,
        total_return=final / start_equity - 1.0,
        cagr=growth,
        sharpe=sharpe(returns, per_year),
        sortino=sortino(returns, per_year),
        max_drawdown=mdd,
        calmar=growth / mdd if mdd > 0 else math.nan,
        volatility=float(np.std(returns, ddof=1) * math.sqrt(per_year))
        if len(returns) > 1
        else math.nan,
        exposure=float(np.mean(units != 0)) if len(units) else 0.0,
        n_trades=len(pnl),
        n_closed=int(closed.sum()),
        win_rate=float(np.mean(done > 0)) if len(done) else math.nan,
        profit_factor=profit_factor,
        avg_trade_return=float(np.mean(trade_returns[closed])) if len(done) else math.nan,
        fees=float(fees),
    )
