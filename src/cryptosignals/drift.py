"""Drift detection on a stream of a model's normalised errors (stream side, numpy only).

A model goes stale when the market changes: its errors grow (or shrink) on average. The
Page-Hinkley test (Page 1954, Hinkley 1971) watches the running sum of each value's deviation
from the mean of all values since the last alarm, less a tolerance `delta`; it alarms when that
sum has risen more than `threshold` above its lowest point (errors grew) or, two-sided, fallen
that far below its highest (errors shrank). After an alarm it starts afresh. This is the same
recursion as river's `drift.PageHinkley` (tests/test_drift.py checks them equal, alarm for
alarm), written here so the stream needs only numpy. `Adwin` (Bifet & Gavaldà 2007) is the
alternative that compares an older and a newer part of an adaptive window (equal to river's
`drift.ADWIN`, alarm for alarm); `DriftMonitor` takes either.

The test is scale-dependent: its inputs must be normalised, so that `threshold` means the same
on every coin. Two normalisations are provided:

- `standardised_moves`: a volatility forecast's error, |r| / sigma (the bar's move over the
  sigma forecast before it; 0.8 on average when the forecast is right, ~1.6 when volatility has
  doubled), capped at `CAP` so one crash does not count as a regime.
- `ErrorScale`: any error divided by its trailing root mean square (exponentially weighted,
  the value itself not included), e.g. a classifier's log-loss over the base rate's.

The default thresholds were set by a false-alarm budget MEASURED on stationary generated data
(at most one alarm per 30 days of 5-minute bars; benchmarks/drift.py, docs/drift.md).

`DriftMonitor` is a normaliser and a detector together; `to_json()` is its state, so chunked
feeding equals feeding at once, and a later value never changes an earlier alarm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The cap of standardised moves |r| / sigma (a 6-sigma bar counts as 6).
CAP = 6.0
#: Page-Hinkley defaults for standardised moves |r| / sigma (5-minute bars), two-sided: at
#: most one false alarm per 30 days of stationary GARCH-t bars (measured: docs/drift.md).
MOVE_DELTA, MOVE_THRESHOLD = 0.1, 40.0
#: Defaults for other errors: averaged over an hour of 5-minute rows (`SCALED_POOL`), scaled by
#: `ErrorScale` (unit root mean square; half-life two weeks of hours, a day to warm up), tested
#: one-sided (errors grew).
SCALED_POOL, SCALED_HALFLIFE, SCALED_WARMUP = 12, 336.0, 24
SCALED_DELTA, SCALED_THRESHOLD = 0.2, 30.0
_MODES = ("up", "down", "both")


class PageHinkley:
    """The Page-Hinkley test on a stream of (normalised) values; NaN values are skipped.

    `alpha` < 1 fades old deviations (river's forgetting factor); `min_instances` values are
    needed after a reset before it may alarm."""

    def __init__(
        self, threshold: float = SCALED_THRESHOLD, delta: float = SCALED_DELTA,
        mode: str = "up", alpha: float = 1.0, min_instances: int = 30,
        state: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        if mode not in _MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(_MODES)}")
        if threshold <= 0 or delta < 0 or not 0 < alpha <= 1 or min_instances < 1:
            raise ValueError(
                "Page-Hinkley needs threshold > 0, delta >= 0, 0 < alpha <= 1, min_instances >= 1"
            )
        self.threshold, self.delta, self.mode = float(threshold), float(delta), mode
        self.alpha, self.min_instances = float(alpha), int(min_instances)
        self.reset()
        if state:
            self.n = int(state["n"])
            self.mean = float(state["mean"])
            self.sum_up, self.min_up = float(state["sum_up"]), float(state["min_up"])
            self.sum_down, self.max_down = float(state["sum_down"]), float(state["max_down"])

    def reset(self) -> None:
        """Forget everything seen (as after an alarm)."""
        self.n, self.mean = 0, 0.0
        self.sum_up, self.min_up = 0.0, math.inf
        self.sum_down, self.max_down = 0.0, -math.inf

    def statistic(self) -> tuple[float, float]:
        """The current rise above the lowest sum and fall below the highest (0 before any)."""
        if self.n == 0:
            return 0.0, 0.0
        return self.sum_up - self.min_up, self.max_down - self.sum_down

    def update(self, values: np.ndarray) -> np.ndarray:
        """Feed values in order; True where the test alarms (then it starts afresh)."""
        values = np.asarray(values, dtype=float)
        alarms = np.zeros(len(values), dtype=bool)
        up, down = self.mode in ("up", "both"), self.mode in ("down", "both")
        a, d, h = self.alpha, self.delta, self.threshold
        n, mean = self.n, self.mean
        s_up, m_up, s_down, m_down = self.sum_up, self.min_up, self.sum_down, self.max_down
        for i, x in enumerate(values.tolist()):
            if x != x:  # NaN: nothing known
                continue
            n += 1
            mean += (x - mean) / n
            dev = x - mean
            s_up = a * s_up + dev - d
            s_down = a * s_down + dev + d
            m_up = min(m_up, s_up)
            m_down = max(m_down, s_down)
            if n >= self.min_instances and (
                (up and s_up - m_up > h) or (down and m_down - s_down > h)
            ):
                alarms[i] = True
                n, mean = 0, 0.0
                s_up, m_up, s_down, m_down = 0.0, math.inf, 0.0, -math.inf
        self.n, self.mean = n, mean
        self.sum_up, self.min_up, self.sum_down, self.max_down = s_up, m_up, s_down, m_down
        return alarms

    def to_json(self) -> dict[str, Any]:
        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "threshold": self.threshold, "delta": self.delta, "mode": self.mode,
            "alpha": self.alpha, "min_instances": self.min_instances, "n": self.n,
            "mean": self.mean, "sum_up": self.sum_up, "min_up": finite(self.min_up),
            "sum_down": self.sum_down, "max_down": finite(self.max_down),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PageHinkley:
        try:
            state = dict(data)
            state["min_up"] = math.inf if data["min_up"] is None else data["min_up"]
            state["max_down"] = -math.inf if data["max_down"] is None else data["max_down"]
            return cls(
                float(data["threshold"]), float(data["delta"]), str(data["mode"]),
                float(data["alpha"]), int(data["min_instances"]), state,
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a Page-Hinkley state: {exc!r}") from None


class Adwin:
    """ADWIN (Bifet & Gavaldà 2007, "Learning from time-changing data with adaptive
    windowing"): a window of recent values kept as an exponential histogram (rows of buckets of
    2^i values, at most `max_buckets` a row), cut whenever an older and a newer part of it have
    means further apart than the Bernstein bound at confidence `delta` allows. A cut is an
    alarm, after which the window starts afresh, as in river's `drift.ADWIN` (the same alarms
    on the same data: tests/test_drift.py). Checked every `clock` values; NaN values skipped.
    Scale-free in its threshold, but its power still depends on the inputs' variance."""

    def __init__(
        self, delta: float = 0.002, clock: int = 32, max_buckets: int = 5,
        min_window: int = 5, grace_period: int = 10, state: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        if not 0 < delta < 1 or clock < 1 or max_buckets < 2 or min_window < 1:
            raise ValueError("ADWIN needs 0 < delta < 1, clock >= 1, max_buckets >= 2")
        self.delta, self.clock, self.max_buckets = float(delta), int(clock), int(max_buckets)
        self.min_window, self.grace_period = int(min_window), int(grace_period)
        state = state or {}
        self.rows: list[list[list[float]]] = [
            [[float(t), float(v)] for t, v in row] for row in state.get("rows", [])
        ]  # rows[i]: buckets of 2^i values, oldest first, each [total, variance]
        self.width = int(state.get("width", 0))
        self.total = float(state.get("total", 0.0))
        self.variance = float(state.get("variance", 0.0))  # sum of squared deviations
        self.tick = int(state.get("tick", 0))

    @property
    def mean(self) -> float:
        return self.total / self.width if self.width else math.nan

    def _insert(self, x: float) -> None:
        if self.width:
            self.variance += self.width * (x - self.total / self.width) ** 2 / (self.width + 1)
        self.width += 1
        self.total += x
        if not self.rows:
            self.rows.append([])
        self.rows[0].append([x, 0.0])
        i = 0
        while i < len(self.rows) and len(self.rows[i]) > self.max_buckets:
            (t1, v1), (t2, v2) = self.rows[i][0], self.rows[i][1]
            n = 2.0**i
            merged = [t1 + t2, v1 + v2 + n * n * (t1 / n - t2 / n) ** 2 / (2 * n)]
            del self.rows[i][:2]
            if i + 1 == len(self.rows):
                self.rows.append([])
            self.rows[i + 1].append(merged)
            i += 1

    def _drop_oldest(self) -> None:
        i = len(self.rows) - 1
        while i >= 0 and not self.rows[i]:
            i -= 1
        t, v = self.rows[i].pop(0)
        n = 2**i
        rest = self.width - n
        if rest > 0:
            self.variance -= v + n * rest * (t / n - (self.total - t) / rest) ** 2 / self.width
        else:
            self.variance = 0.0
        self.width, self.total = rest, self.total - t
        self.variance = max(self.variance, 0.0)
        while self.rows and not self.rows[-1]:
            self.rows.pop()

    def _cut(self) -> bool:
        """True if some split of the window has means too far apart (then the oldest bucket
        is dropped and the window checked again)."""
        cut = False
        again = True
        while again and self.width > self.grace_period:
            again = False
            n0, t0 = 0, 0.0
            log_term = math.log(2.0 * math.log(self.width) / self.delta)
            per_value = self.variance / self.width
            for i in range(len(self.rows) - 1, -1, -1):  # oldest row first
                for t, _ in self.rows[i]:
                    n0 += 2**i
                    t0 += t
                    n1 = self.width - n0
                    if n1 <= self.min_window:
                        break
                    if n0 <= self.min_window:
                        continue
                    m = 1.0 / (n0 - self.min_window + 1) + 1.0 / (n1 - self.min_window + 1)
                    eps = math.sqrt(2 * m * per_value * log_term) + 2.0 / 3.0 * log_term * m
                    if abs(t0 / n0 - (self.total - t0) / n1) > eps:
                        self._drop_oldest()
                        cut = again = True
                        break
                if again:
                    break
        return cut

    def update(self, values: np.ndarray) -> np.ndarray:
        """Feed values in order; True where the window was cut (a change)."""
        values = np.asarray(values, dtype=float)
        alarms = np.zeros(len(values), dtype=bool)
        for i, x in enumerate(values.tolist()):
            if x != x:
                continue
            self._insert(x)
            self.tick += 1
            if self.tick % self.clock == 0 and self._cut():
                alarms[i] = True
                self.reset()  # as river does: the window starts afresh after a change
        return alarms

    def reset(self) -> None:
        """Forget the window (as after an alarm)."""
        self.rows, self.width, self.total, self.variance, self.tick = [], 0, 0.0, 0.0, 0

    def to_json(self) -> dict[str, Any]:
        return {
            "delta": self.delta, "clock": self.clock, "max_buckets": self.max_buckets,
            "min_window": self.min_window, "grace_period": self.grace_period,
            "rows": self.rows, "width": self.width, "total": self.total,
            "variance": self.variance, "tick": self.tick,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Adwin:
        try:
            return cls(float(data["delta"]), int(data["clock"]), int(data["max_buckets"]),
                       int(data["min_window"]), int(data["grace_period"]), data)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an ADWIN state: {exc!r}") from None


def standardised_moves(returns: np.ndarray, sigma: np.ndarray, cap: float = CAP) -> np.ndarray:
    """|r| / sigma, capped: each return over the sigma forecast made before it (NaN where
    either is unknown or sigma is not positive)."""
    r, s = np.asarray(returns, dtype=float), np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, np.abs(r) / s, np.nan)
    return np.minimum(z, cap)


class ErrorScale:
    """Divides each error by the root mean square of the errors before it (exponentially
    weighted with `halflife` values; NaN during the first `warmup`), so a detector threshold
    means the same whatever the error's units. NaN errors are skipped."""

    def __init__(
        self, halflife: float = 2016.0, warmup: int = 288, state: dict[str, Any] | None = None
    ) -> None:
        if halflife <= 0 or warmup < 1:
            raise ValueError("the error scale needs halflife > 0 and warmup >= 1")
        self.halflife, self.warmup = float(halflife), int(warmup)
        state = state or {}
        self.n = int(state.get("n", 0))
        self.mean_square = float(state.get("mean_square", 0.0))

    def update(self, errors: np.ndarray) -> np.ndarray:
        e = np.asarray(errors, dtype=float)
        out = np.full(len(e), np.nan)
        keep = 0.5 ** (1.0 / self.halflife)
        n, ms = self.n, self.mean_square
        for i, x in enumerate(e.tolist()):
            if x != x:
                continue
            if n >= self.warmup and ms > 0:
                out[i] = x / math.sqrt(ms)
                ms = keep * ms + (1 - keep) * x * x
            else:
                ms += (x * x - ms) / (n + 1)
            n += 1
        self.n, self.mean_square = n, ms
        return out

    def to_json(self) -> dict[str, Any]:
        return {"halflife": self.halflife, "warmup": self.warmup, "n": self.n,
                "mean_square": self.mean_square}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorScale:
        try:
            return cls(float(data["halflife"]), int(data["warmup"]), data)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an error scale state: {exc!r}") from None


@dataclass(frozen=True)
class Alarms:
    """What one feed found: the normalised values the detector saw, and where it alarmed."""

    times: np.ndarray  # unix seconds at which each error became known
    values: np.ndarray  # the normalised errors (NaN where none)
    alarm: np.ndarray  # bool per value

    @property
    def alarm_times(self) -> np.ndarray:
        return self.times[self.alarm]


class DriftMonitor:
    """A detector over a model's errors, resumable. `kind` says how errors are normalised:
    "moves" (they already are standardised moves |r| / sigma: `standardised_moves`; two-sided)
    or "scaled" (any error, averaged over `pool` consecutive errors, e.g. an hour of
    overlapping 1-hour labels, then divided by its trailing scale: `ErrorScale`; alarms when
    errors grow). Feed errors in the order they become known; an alarm is dated by the last
    error it read."""

    KINDS = ("moves", "scaled")

    def __init__(
        self, kind: str = "moves", detector: PageHinkley | Adwin | None = None,
        scale: ErrorScale | None = None, pool: int | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        if kind not in self.KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(self.KINDS)}")
        self.kind = kind
        if detector is None:
            detector = (
                PageHinkley(MOVE_THRESHOLD, MOVE_DELTA, "both") if kind == "moves"
                else PageHinkley(SCALED_THRESHOLD, SCALED_DELTA, "up")
            )  # fmt: skip
        self.detector: PageHinkley | Adwin = detector
        if scale is None and kind == "scaled":
            scale = ErrorScale(halflife=SCALED_HALFLIFE, warmup=SCALED_WARMUP)
        self.scale = scale
        self.pool = int(pool if pool is not None else (SCALED_POOL if kind == "scaled" else 1))
        if self.pool < 1:
            raise ValueError("pool must be at least 1")
        state = state or {}
        self._sum, self._count = float(state.get("sum", 0.0)), int(state.get("count", 0))

    def _pooled(self, times: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.pool == 1:
            return times, errors
        out_t, out_v = [], []
        total, count = self._sum, self._count
        for when, e in zip(times.tolist(), errors.tolist(), strict=True):
            if e != e:
                continue
            total, count = total + e, count + 1
            if count == self.pool:
                out_t.append(when)
                out_v.append(total / count)
                total, count = 0.0, 0
        self._sum, self._count = total, count
        return np.array(out_t, dtype=np.int64), np.array(out_v, dtype=float)

    def update(self, times: np.ndarray, errors: np.ndarray) -> Alarms:
        times = np.asarray(times, dtype=np.int64)
        errors = np.asarray(errors, dtype=float)
        if len(times) != len(errors):
            raise ValueError(f"{len(times)} times for {len(errors)} errors")
        times, errors = self._pooled(times, errors)
        values = self.scale.update(errors) if self.scale is not None else errors
        return Alarms(times, values, self.detector.update(values))

    def restart(self) -> None:
        """Start the test afresh (after the model was refitted), keeping the error scale."""
        self.detector.reset()

    def to_json(self) -> dict[str, Any]:
        method = "adwin" if isinstance(self.detector, Adwin) else "page_hinkley"
        return {"kind": self.kind, "method": method, "detector": self.detector.to_json(),
                "scale": None if self.scale is None else self.scale.to_json(),
                "pool": self.pool, "sum": self._sum, "count": self._count}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DriftMonitor:
        try:
            scale = None if data.get("scale") is None else ErrorScale.from_json(data["scale"])
            reader = Adwin if data.get("method") == "adwin" else PageHinkley
            return cls(str(data["kind"]), reader.from_json(data["detector"]), scale,
                       int(data.get("pool", 1)), data)  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a drift monitor state: {exc!r}") from None
