"""Quota arithmetic: how many calls a month a polling plan and a backfill cost.

One request is one call credit. Polling N coins takes ceil(N / 250) `/coins/markets` calls (or
ceil(N / 250) `/simple/price` calls with 250 ids each, the client's batch; the documented cap is
515 ids). A month is 30 days here (43,200 minutes), as in CoinGecko's own arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cryptosignals.coingecko.client import (
    MARKETS_PER_PAGE,
    MAX_HOURLY_RANGE_DAYS,
    SIMPLE_PRICE_BATCH,
)

MONTH_MINUTES = 30 * 24 * 60
DEMO_MONTHLY_CALLS = 10_000
COINS_PER_CALL = {"markets": MARKETS_PER_PAGE, "simple_price": SIMPLE_PRICE_BATCH}
#: One market_chart/range call covers at most this many days at hourly granularity.
BACKFILL_DAYS_PER_CALL = MAX_HOURLY_RANGE_DAYS


def calls_per_poll(coins: int, endpoint: str = "markets") -> int:
    """API calls one poll of `coins` coins takes."""
    if coins < 1:
        raise ValueError("coins must be at least 1")
    return math.ceil(coins / COINS_PER_CALL[endpoint])


def calls_per_month(coins: int, cadence_min: float, endpoint: str = "markets") -> int:
    """Calls a 30-day month of polling every `cadence_min` minutes costs."""
    if not cadence_min > 0:
        raise ValueError("cadence_min must be positive")
    return math.ceil(MONTH_MINUTES / cadence_min) * calls_per_poll(coins, endpoint)


def backfill_calls(coins: int, days: int) -> int:
    """market_chart/range calls a backfill of `days` days of `coins` coins takes."""
    return coins * max(1, math.ceil(days / BACKFILL_DAYS_PER_CALL))


def min_cadence_min(coins: int, budget: int = DEMO_MONTHLY_CALLS, reserve: int = 0) -> float:
    """The shortest polling cadence (minutes) that keeps a month inside `budget - reserve`."""
    usable = budget - reserve
    if usable <= 0:
        raise ValueError("the reserve uses the whole budget")
    return MONTH_MINUTES * calls_per_poll(coins) / usable


@dataclass(frozen=True)
class QuotaRow:
    coins: int
    cadence_min: float
    calls_per_poll: int
    calls_per_month: int
    budget: int

    @property
    def share(self) -> float:
        """The month's calls as a share of the budget (1.0 = all of it)."""
        return self.calls_per_month / self.budget

    @property
    def fits(self) -> bool:
        return self.calls_per_month <= self.budget


def quota_table(
    coin_counts: tuple[int, ...] = (100, 250, 1000),
    cadences_min: tuple[float, ...] = (1, 5, 15),
    budget: int = DEMO_MONTHLY_CALLS,
) -> list[QuotaRow]:
    """Calls a month for every (coins, cadence) pair, with `/coins/markets` polling."""
    return [
        QuotaRow(n, c, calls_per_poll(n), calls_per_month(n, c), budget)
        for n in coin_counts
        for c in cadences_min
    ]
