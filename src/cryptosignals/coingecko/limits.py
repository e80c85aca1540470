"""Two limits a CoinGecko caller lives under: calls a minute (a token bucket) and calls a month.

`TokenBucket` is thread-safe; `shared_bucket` hands every client of the process the same bucket
for the same host, so all calls of the process share the plan's per-minute allowance. The clock
and the sleep are injectable, so a test can prove the rate without waiting a minute.

The default burst is 1: calls are spaced `per / rate` seconds apart, which keeps every window of
`per` seconds (sliding or CoinGecko's fixed minute) at `rate` calls or fewer. A larger burst is
faster for short bursts but lets a fixed window see up to `rate + burst - 1` calls.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptosignals.coingecko.errors import QuotaExhaustedError, TimeBudgetExceededError


class TokenBucket:
    """`rate` calls per `per` seconds, at most `burst` at once."""

    def __init__(
        self,
        rate: float,
        per: float = 60.0,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or not per > 0 or burst < 1:
            raise ValueError("rate and per must be positive and burst at least 1")
        self.rate = rate
        self.per = per
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, per={self.per:g}, burst={self.burst})"

    @property
    def interval(self) -> float:
        """Seconds it takes to earn one token."""
        return self.per / self.rate

    def _reserve(self) -> float:
        """Take a token now or in the future; returns how long the caller must wait."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) / self.interval)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens * self.interval

    def acquire(self, deadline: float | None = None) -> float:
        """Wait for a token; returns the seconds waited. If the wait would end after `deadline`
        (a time of the same clock), no token is taken and `TimeBudgetExceededError` is raised."""
        with self._lock:
            wait = self._reserve()
            if deadline is not None and self._clock() + wait > deadline:
                self._tokens += 1.0
                raise TimeBudgetExceededError(
                    f"the rate limit ({self.rate:g} calls per {self.per:g} s) needs a wait of "
                    f"{wait:.1f} s, past the call's time budget",
                    retry_after=wait,
                )
        if wait > 0:
            self._sleep(wait)
        return wait


_SHARED: dict[tuple[str, float, float], TokenBucket] = {}
_SHARED_LOCK = threading.Lock()


def shared_bucket(key: str, rate: float, per: float = 60.0) -> TokenBucket:
    """The process-wide bucket for `key` (the API host) at this rate."""
    with _SHARED_LOCK:
        bucket = _SHARED.get((key, rate, per))
        if bucket is None:
            bucket = _SHARED[(key, rate, per)] = TokenBucket(rate, per)
        return bucket


def month_of(moment: float) -> str:
    """`2026-11` for a unix time (UTC): CoinGecko's credits are counted per calendar month."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m")


class CallCounter:
    """Counts calls against a monthly budget (None: count, never refuse), optionally persisted
    to a small JSON file so successive runs add up. Runs at the same time on one file do not
    (the last to save wins): the counter guards one process, and the account's real count is
    CoinGecko's own.

    Every HTTP request counts, retries included: CoinGecko may bill failed calls too."""

    def __init__(
        self,
        budget: int | None = 10_000,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budget = budget
        self.path = Path(path) if path else None
        self._clock = clock
        self._lock = threading.Lock()
        self._month = month_of(clock())
        self._used = 0
        if self.path is not None and self.path.exists():
            try:
                state = json.loads(self.path.read_text())
                if state.get("month") == self._month:
                    self._used = int(state.get("calls", 0))
            except (ValueError, TypeError, OSError, AttributeError):
                self._used = 0  # an unreadable count starts the month afresh

    def __repr__(self) -> str:
        return f"CallCounter(month={self._month}, used={self.used}, budget={self.budget})"

    def _roll(self) -> None:
        month = month_of(self._clock())
        if month != self._month:
            self._month, self._used = month, 0

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    @property
    def remaining(self) -> int | None:
        """Calls left this month, None when there is no budget."""
        if self.budget is None:
            return None
        return max(0, self.budget - self.used)

    def check(self) -> None:
        """Refuse (QuotaExhaustedError) when the month's budget is spent."""
        remaining = self.remaining
        if remaining is not None and remaining <= 0:
            raise QuotaExhaustedError(
                f"the monthly CoinGecko budget of {self.budget:,} calls is spent "
                f"({self._month}); raise COINGECKO_MONTHLY_BUDGET or wait for next month"
            )

    def record(self, calls: int = 1) -> None:
        with self._lock:
            self._roll()
            self._used += calls
            if self.path is not None:
                self._save()

    def _save(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps({"month": self._month, "calls": self._used}))
        os.replace(temporary, self.path)


def seconds_until(deadline: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Time left before a deadline of `clock` (never negative, inf for no deadline)."""
    return math.inf if deadline == math.inf else max(0.0, deadline - clock())
