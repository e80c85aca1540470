"""Risk: how volatile a coin is now, what it could lose over the next horizon, and how to tell
whether such a forecast covers what it claims.

Forecast (the stream's part, numpy only; parameters are plain data fitted offline by
cryptosignals.models.volatility):

- the variance of the next 5-minute return from a GARCH(1,1) recursion (EWMA is the special
  case omega = 0, alpha + beta = 1) on returns divided by an hour-of-week seasonal factor, so
  the quiet Sunday night and the busy US open are not the same "normal";
- over a horizon of m bars, the sum of the expected variances of the next m bars, each scaled
  by its own hour's factor (GARCH mean-reverts to its long-run level as the steps grow);
- value at risk and expected shortfall as multiples of that horizon's sigma, the multiples
  fitted offline per method (`TAIL_METHODS`): Student-t, Cornish-Fisher, or filtered historical
  simulation (empirical quantiles of losses standardised by their own forecast);
- a position size: the fraction of equity whose 1h VaR99 equals a risk budget.

Losses and VaRs are positive fractions of the position (a VaR of 0.02 = a 2 % loss, as log
return), over the horizon after the close of the bar the forecast is made at.

Backtests of a VaR's hits (`arch` has none), each returning its likelihood-ratio statistic and
p-value (chi-squared, as the papers derive it):

- `kupiec_pof`: proportion of failures, the share of hits against p (Kupiec, 1995);
- `christoffersen_independence`: whether a hit makes the next one likelier, from the
  first-order Markov chain of hits (Christoffersen, 1998); its chi-squared p-value over-rejects
  in realistic samples, so a Monte Carlo p-value is offered (`simulations`);
- `conditional_coverage`: both at once (their sum, two degrees of freedom).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cryptosignals.fitted import fitted_for
from cryptosignals.hours import HOURS_PER_WEEK, hour_of_week

BAR_SECONDS = 300  # the engine's base bars: the forecast's unit step
HORIZONS: dict[str, int] = {"5m": 300, "30m": 1800, "1h": 3600, "4h": 14400}
#: The tail measures of every forecast, as (name, level): VaR at 95 %, 97.5 % and 99 %, and the
#: expected shortfall beyond the VaR97.5 (the Basel measure; the VaR97.5 is what judges it).
MEASURES: tuple[tuple[str, float], ...] = (
    ("var_95", 0.95), ("var_975", 0.975), ("var_99", 0.99), ("es_975", 0.975),
)  # fmt: skip
#: How a horizon's sigma becomes VaR and ES: their multipliers are fitted offline per method.
TAIL_METHODS = ("student_t", "cornish_fisher", "fhs")
_BARS_PER_WEEK = HOURS_PER_WEEK * 3600 // BAR_SECONDS


@dataclass(frozen=True)
class CoverageTest:
    """A likelihood-ratio test of a VaR's hits: its statistic, degrees of freedom, p-value."""

    name: str
    statistic: float
    dof: int
    p_value: float

    def rejects(self, level: float = 0.05) -> bool:
        return self.p_value <= level


def chi2_sf(x: float, dof: int) -> float:
    """P(chi-squared with 1 or 2 degrees of freedom > x), in closed form (no scipy needed)."""
    if x <= 0:
        return 1.0
    if dof == 1:
        return math.erfc(math.sqrt(x / 2.0))
    if dof == 2:
        return math.exp(-x / 2.0)
    raise ValueError("only 1 or 2 degrees of freedom are needed here")


def _xlogy(x: float, y: float) -> float:
    """x * log(y), 0 when x is 0 (a share of 0 or 1 observed 0 times costs nothing)."""
    return 0.0 if x == 0 else x * math.log(y)


def _hits(hits: np.ndarray) -> np.ndarray:
    values = np.asarray(hits)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("hits must be a non-empty 1-D array of 0/1 (or booleans)")
    if not np.isin(values, (0, 1)).all():
        raise ValueError("hits must be 0/1 (or booleans): 1 where the loss exceeded the VaR")
    return values.astype(bool)


def kupiec_pof(hits: np.ndarray, p: float) -> CoverageTest:
    """Kupiec's proportion-of-failures test: x hits in T periods against a claimed rate p."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    h = _hits(hits)
    t, x = len(h), int(h.sum())
    share = x / t
    null = _xlogy(t - x, 1.0 - p) + _xlogy(x, p)
    fitted = _xlogy(t - x, 1.0 - share) + _xlogy(x, share)
    statistic = max(0.0, -2.0 * (null - fitted))
    return CoverageTest("kupiec_pof", statistic, 1, chi2_sf(statistic, 1))


def _xlogy_array(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _independence_statistic(h: np.ndarray) -> np.ndarray:
    """The independence LR of each row of a 2-D array of 0/1 hits (vectorised for simulation)."""
    h = h.astype(np.int64)
    pairs = h[:, :-1] * 2 + h[:, 1:]  # 0: 0->0, 1: 0->1, 2: 1->0, 3: 1->1
    n00, n01, n10, n11 = ((pairs == k).sum(axis=1).astype(float) for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        pi0 = np.where(n00 + n01 > 0, n01 / (n00 + n01), 0.0)
        pi1 = np.where(n10 + n11 > 0, n11 / (n10 + n11), 0.0)
        pi = (n01 + n11) / np.maximum(1.0, n00 + n01 + n10 + n11)
    null = _xlogy_array(n00 + n10, 1.0 - pi) + _xlogy_array(n01 + n11, pi)
    fitted = (_xlogy_array(n00, 1.0 - pi0) + _xlogy_array(n01, pi0)
              + _xlogy_array(n10, 1.0 - pi1) + _xlogy_array(n11, pi1))  # fmt: skip
    return np.maximum(0.0, -2.0 * (null - fitted))


def christoffersen_independence(
    hits: np.ndarray, simulations: int = 0, seed: int = 0
) -> CoverageTest:
    """Christoffersen's independence test: is a hit after a hit likelier than after none?

    With `simulations` = 0 the p-value is the chi-squared one of the paper, which rejects too
    often in samples of a realistic size (measured: 8.4 % at a nominal 5 % for 1,000 periods at
    p = 5 %, because 1 -> 1 transitions are rare). With `simulations` > 0 it is a Monte Carlo
    p-value: the same statistic on that many independent sequences with the observed hit rate
    (Dufour's Monte Carlo test; Christoffersen and Pelletier, 2004), which holds its rate.
    """
    h = _hits(hits)
    statistic = float(_independence_statistic(h[None, :])[0])
    if simulations <= 0:
        return CoverageTest("christoffersen_independence", statistic, 1, chi2_sf(statistic, 1))
    rng = np.random.default_rng(seed)
    simulated = _independence_statistic(rng.random((simulations, len(h))) < h.mean())
    p_value = float((1 + np.sum(simulated >= statistic - 1e-12)) / (1 + simulations))
    return CoverageTest("christoffersen_independence", statistic, 1, p_value)


def conditional_coverage(hits: np.ndarray, p: float) -> CoverageTest:
    """Christoffersen's conditional coverage: the right share of hits, and independent (the
    chi-squared p-value with two degrees of freedom, as in the paper)."""
    pof, ind = kupiec_pof(hits, p), christoffersen_independence(hits)
    statistic = pof.statistic + ind.statistic
    return CoverageTest("conditional_coverage", statistic, 2, chi2_sf(statistic, 2))


# -- forecasts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolatilityModel:
    """Fitted parameters of one coin's variance forecast, as plain data (JSON).

    The recursion runs on deseasonalised 5-minute log returns r / s(hour of week):
    v[t+1] = omega + alpha * r[t]^2 + beta * v[t]. `tails[method][horizon]` holds the
    multipliers of that horizon's sigma for each of `MEASURES`.
    """

    omega: float
    alpha: float
    beta: float
    initial_variance: float  # v before the first return (the training sample's variance)
    seasonal: tuple[float, ...]  # HOURS_PER_WEEK factors of |return|, mean 1
    tails: dict[str, dict[str, tuple[float, ...]]]  # method -> horizon -> one per MEASURES
    nu: float = math.inf  # Student-t degrees of freedom of the fitted innovations
    kind: str = "garch"  # or "ewma"
    default_method: str = "fhs"
    fitted: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, and how well

    def __post_init__(self) -> None:
        if len(self.seasonal) != HOURS_PER_WEEK or min(self.seasonal) <= 0:
            raise ValueError(f"seasonal needs {HOURS_PER_WEEK} positive hour-of-week factors")
        if self.omega < 0 or self.alpha < 0 or self.beta < 0 or self.alpha + self.beta > 1:
            raise ValueError(
                f"variance recursion must have omega, alpha, beta >= 0 and alpha + beta <= 1, "
                f"got {self.omega}, {self.alpha}, {self.beta}"
            )
        if self.default_method not in self.tails:
            raise ValueError(f"default method {self.default_method!r} has no fitted tails")
        for method, by_horizon in self.tails.items():
            if any(len(v) != len(MEASURES) for v in by_horizon.values()):
                raise ValueError(
                    f"{method}: tails need one multiplier per {[n for n, _ in MEASURES]}"
                )

    @property
    def persistence(self) -> float:
        return self.alpha + self.beta

    def horizon_sigma(self, end: np.ndarray, next_variance: np.ndarray, horizon: str) -> np.ndarray:
        """The sigma of the log return over `horizon` after bars closing at `end` (multiples of
        5 minutes), given the deseasonalised variance forecast v of the next bar.

        Bar t+k's expected variance is s(its hour)^2 (V + phi^(k-1) (v - V)), V the long-run
        level and phi = alpha + beta; their sum over the horizon is V S0 + (v - V) S1, where S0
        and S1 depend only on where in the week the horizon starts (`_week_sums`)."""
        sums0, sums1 = self._week_sums[horizon]
        end = np.asarray(end, dtype=np.int64)
        start = hour_of_week(end) * (3600 // BAR_SECONDS) + end % 3600 // BAR_SECONDS
        v = np.asarray(next_variance, dtype=float)
        return np.sqrt(self.long_run_variance * (sums0[start] - sums1[start]) + v * sums1[start])

    @property
    def long_run_variance(self) -> float:
        phi = self.persistence
        return self.omega / (1.0 - phi) if phi < 1 else 0.0

    @functools.cached_property
    def _week_sums(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per horizon and starting bar of the week: the sums over the horizon's bars of
        s^2 (S0) and of phi^(k-1) s^2 (S1)."""
        square = np.repeat(np.asarray(self.seasonal) ** 2, 3600 // BAR_SECONDS)  # per bar
        out = {}
        for horizon, seconds in HORIZONS.items():
            steps = seconds // BAR_SECONDS
            ahead = (np.arange(_BARS_PER_WEEK)[:, None] + np.arange(steps)) % _BARS_PER_WEEK
            decay = self.persistence ** np.arange(steps)
            out[horizon] = (square[ahead].sum(axis=1), (square[ahead] * decay).sum(axis=1))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "omega": self.omega, "alpha": self.alpha, "beta": self.beta,
            "nu": None if math.isinf(self.nu) else self.nu,
            "initial_variance": self.initial_variance, "seasonal": list(self.seasonal),
            "tails": {m: {h: list(v) for h, v in t.items()} for m, t in self.tails.items()},
            "default_method": self.default_method, "fitted": self.fitted,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolatilityModel:
        try:
            return cls(
                omega=float(data["omega"]), alpha=float(data["alpha"]), beta=float(data["beta"]),
                initial_variance=float(data["initial_variance"]),
                seasonal=tuple(float(x) for x in data["seasonal"]),
                tails={m: {h: tuple(float(x) for x in v) for h, v in t.items()}
                       for m, t in data["tails"].items()},
                nu=math.inf if data.get("nu") is None else float(data["nu"]),
                kind=str(data.get("kind", "garch")),
                default_method=str(data.get("default_method", "fhs")),
                fitted=dict(data.get("fitted") or {}),
            )  # fmt: skip
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a volatility model: {exc!r}") from None


@dataclass
class RiskForecast:
    """Per bar: the deseasonalised variance forecast of the next bar and, per horizon, sigma."""

    end: np.ndarray
    next_variance: np.ndarray
    sigma: dict[str, np.ndarray]

    def tail(
        self, model: VolatilityModel, horizon: str, method: str | None = None
    ) -> dict[str, np.ndarray]:
        """Each of `MEASURES` over `horizon` by one method (the model's default)."""
        multipliers = model.tails[method or model.default_method][horizon]
        return {
            name: self.sigma[horizon] * m
            for (name, _), m in zip(MEASURES, multipliers, strict=True)
        }


def position_size(var_99: np.ndarray, budget: float, cap: float = 1.0) -> np.ndarray:
    """The fraction of equity whose VaR99 equals `budget` (e.g. 0.01 = lose at most 1 % of
    equity on the horizon's worst day in a hundred), never more than `cap` (1 = no leverage)."""
    if not 0 < budget < 1:
        raise ValueError(f"the risk budget is a fraction of equity in (0, 1), got {budget}")
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(var_99 > 0, budget / var_99, np.nan)
    return np.minimum(size, cap)


def model_for(coin: str, path: str | Path | None = None) -> VolatilityModel | None:
    """The coin's fitted forecast from a models file (cryptosignals.fitted: the bundled one by
    default), or the file's default coin's (its multipliers are in sigmas, so they travel, and
    the variance adapts to the coin's own returns within hours), or None."""
    params = fitted_for(coin, "volatility", path)
    return None if params is None else VolatilityModel.from_json(params)


class RiskForecaster:
    """The variance recursion over 5-minute bar closes, resumable: `to_json()` is its state
    (the last close, the next bar's variance, and the last hour's forecasts so that a move can
    be measured against the forecast made before it), so chunked == whole."""

    RECENT = HORIZONS["1h"] // BAR_SECONDS + 1  # bars remembered: back to an hour ago

    def __init__(self, model: VolatilityModel, state: dict[str, Any] | None = None) -> None:
        self.model = model
        state = state or {}
        self.last_close: float | None = state.get("last_close")
        self.variance = float(state.get("variance", model.initial_variance))
        recent = state.get("recent") or []
        self._ends = np.array([int(e) for e, _ in recent], dtype=np.int64)
        self._variances = np.array([float(v) for _, v in recent])

    def update(self, end: np.ndarray, close: np.ndarray) -> RiskForecast:
        """Forecasts made after each bar closing at `end` (no bar after it is read)."""
        m = self.model
        seasonal = np.asarray(m.seasonal)
        end = np.asarray(end, dtype=np.int64)
        factor = seasonal[hour_of_week(end - BAR_SECONDS)]
        out = np.empty(len(end))
        last, v = self.last_close, self.variance
        for i, (c, s) in enumerate(zip(np.asarray(close, float).tolist(), factor.tolist(),
                                       strict=True)):  # fmt: skip
            if last is not None and c > 0 and last > 0:
                r = math.log(c / last) / s
                v = m.omega + m.alpha * r * r + m.beta * v
            last = c
            out[i] = v
        self.last_close, self.variance = last, v
        keep = slice(max(0, len(self._ends) - self.RECENT), None)  # the batch + the hour before
        self._ends = np.concatenate([self._ends[keep], end])
        self._variances = np.concatenate([self._variances[keep], out])
        sigma = {h: m.horizon_sigma(end, out, h) for h in HORIZONS}
        return RiskForecast(end, out, sigma)

    def sigma_as_of(self, times: np.ndarray, horizon: str) -> np.ndarray:
        """For each time, the horizon's sigma forecast at the last bar closed by then (NaN
        before the first): what was known before a move that started at that time. Reaches
        back over this batch's bars and the last hour before it."""
        times = np.asarray(times, dtype=np.int64)
        index = np.searchsorted(self._ends, times, side="right") - 1
        known = index >= 0
        out = np.full(len(times), np.nan)
        at = index[known]
        out[known] = self.model.horizon_sigma(self._ends[at], self._variances[at], horizon)
        return out

    def latest(self, budget: float) -> dict[str, Any] | None:
        """The forecast after the last bar, as stored with the coin's aggregates: sigma and the
        default method's tail per horizon, and the position size for `budget` over an hour."""
        if len(self._ends) == 0:
            return None
        forecast = RiskForecast(self._ends[-1:], self._variances[-1:], {
            h: self.model.horizon_sigma(self._ends[-1:], self._variances[-1:], h)
            for h in HORIZONS
        })  # fmt: skip
        horizons = {}
        for h in HORIZONS:
            tail = forecast.tail(self.model, h)
            horizons[h] = {"sigma": float(forecast.sigma[h][0]),
                           **{k: float(v[0]) for k, v in tail.items()}}  # fmt: skip
        size = position_size(np.array([horizons["1h"]["var_99"]]), budget)[0]
        return {
            "timestamp": int(self._ends[-1]), "method": self.model.default_method,
            "horizons": horizons, "budget": budget, "position_size": float(size),
        }  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        keep = slice(max(0, len(self._ends) - self.RECENT), None)
        return {
            "last_close": self.last_close, "variance": self.variance,
            "recent": [[int(e), float(v)] for e, v in
                       zip(self._ends[keep], self._variances[keep], strict=True)],
        }  # fmt: skip


# -- judging forecasts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VarBacktest:
    """How one VaR series fared: its hits over non-overlapping horizons, and the three tests.

    `es_ratio` is the mean realised loss beyond the VaR97.5 over the mean forecast ES97.5 on
    those periods (1 when the shortfall is right; above 1 when losses beyond the VaR are worse than
    forecast)."""

    n: int
    hits: int
    level: float
    pof: CoverageTest
    independence: CoverageTest
    conditional: CoverageTest
    es_ratio: float

    @property
    def rate(self) -> float:
        return self.hits / self.n if self.n else math.nan

    def passes(self, significance: float = 0.05) -> bool:
        """Kupiec's test does not reject the claimed rate at `significance`."""
        return not self.pof.rejects(significance)


def backtest_var(
    forecast: np.ndarray, loss: np.ndarray, step: int, simulations: int = 999
) -> dict[str, VarBacktest]:
    """Backtest an (n, len(MEASURES)) forecast series against realised losses over its horizon.

    Only every `step`-th forecast is scored (step = the horizon in bars), so the periods do not
    overlap: overlapping hits are dependent by construction and would fail any independence
    test. Bars with no forecast or no outcome yet are skipped. Returns one backtest per VaR."""
    usable = np.flatnonzero(np.isfinite(forecast).all(axis=1) & np.isfinite(loss))[::step]
    if len(usable) < 2:
        raise ValueError("fewer than two forecasts with an outcome: nothing to backtest")
    f, realised = forecast[usable], loss[usable]
    names = [name for name, _ in MEASURES]
    beyond = realised > f[:, names.index("var_975")]
    es = f[beyond, names.index("es_975")]
    es_ratio = float(realised[beyond].mean() / es.mean()) if beyond.any() else math.nan
    out = {}
    for j, (name, level) in enumerate(MEASURES):
        if not name.startswith("var"):
            continue
        hits = realised > f[:, j]
        out[name] = VarBacktest(
            n=len(hits), hits=int(hits.sum()), level=level,
            pof=kupiec_pof(hits, 1 - level),
            independence=christoffersen_independence(hits, simulations=simulations),
            conditional=conditional_coverage(hits, 1 - level), es_ratio=es_ratio,
        )  # fmt: skip
    return out
