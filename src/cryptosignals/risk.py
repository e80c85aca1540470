"""Risk: how to tell whether a value-at-risk forecast covers what it claims.

A VaR at level p claims that the loss exceeds it on a share p of the periods, and that those
exceedances ("hits") do not cluster. The classic backtests (`arch` has none), each returning
its likelihood-ratio statistic and p-value (chi-squared, as the papers derive it):

- `kupiec_pof`: proportion of failures, the share of hits against p (Kupiec, 1995);
- `christoffersen_independence`: whether a hit makes the next one likelier, from the
  first-order Markov chain of hits (Christoffersen, 1998); its chi-squared p-value over-rejects
  in realistic samples, so a Monte Carlo p-value is offered (`simulations`);
- `conditional_coverage`: both at once (their sum, two degrees of freedom).

Forecasts themselves (EWMA, GARCH, filtered historical simulation) are the risk issue's next
parts; this module is their judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
