"""VaR backtests: Kupiec's and Christoffersen's likelihood-ratio tests, checked against the
literature's worked regions and against their nominal rate on generated hits."""

from __future__ import annotations

import numpy as np
import pytest

from cryptosignals.risk import (
    chi2_sf,
    christoffersen_independence,
    conditional_coverage,
    kupiec_pof,
)


def test_the_chi_squared_tail_matches_its_critical_values() -> None:
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf(6.634896601021214, 1) == pytest.approx(0.01, abs=1e-12)
    assert chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, abs=1e-12)
    assert chi2_sf(0.0, 1) == 1.0


def _accepted(p: float, periods: int) -> tuple[int, int]:
    """The numbers of hits Kupiec's test does not reject at 5 %."""
    ok = [x for x in range(periods // 2)
          if not kupiec_pof(np.r_[np.ones(x), np.zeros(periods - x)], p).rejects()]  # fmt: skip
    return min(ok), max(ok)


@pytest.mark.parametrize(
    ("p", "periods", "low", "high"),
    [  # Jorion, Value at Risk (3rd ed.), table 6-3: 95 % non-rejection regions, low < N < high
        (0.01, 510, 1, 11), (0.01, 1000, 4, 17),
        (0.025, 255, 2, 12), (0.025, 510, 6, 21), (0.025, 1000, 15, 36),
        (0.05, 255, 6, 21), (0.05, 510, 16, 36), (0.05, 1000, 37, 65),
    ],
)  # fmt: skip
def test_kupiec_reproduces_the_published_non_rejection_regions(
    p: float, periods: int, low: int, high: int
) -> None:
    assert _accepted(p, periods) == (low + 1, high - 1)


def test_kupiec_at_one_percent_over_255_days() -> None:
    """The table gives N < 7; the test also rejects zero hits (LR 5.1: too good to be true)."""
    assert _accepted(0.01, 255) == (1, 6)
    assert kupiec_pof(np.zeros(255), 0.01).statistic == pytest.approx(-2 * 255 * np.log(0.99))


def test_clustered_hits_fail_independence_even_at_the_right_rate() -> None:
    hits = np.zeros(1000)
    for start in range(50, 1000, 100):  # 50 hits in 10 clusters of 5: rate right, timing wrong
        hits[start : start + 5] = 1
    assert not kupiec_pof(hits, 0.05).rejects()
    assert christoffersen_independence(hits).rejects(0.001)
    assert christoffersen_independence(hits, simulations=999).rejects(0.01)
    assert conditional_coverage(hits, 0.05).rejects(0.001)


def test_the_tests_hold_their_rate_on_hits_that_are_right_and_the_asymptotic_one_does_not() -> None:
    """Independent hits at the claimed rate, 1,000 periods: Kupiec and the conditional coverage
    reject at about 5 %; the independence test's chi-squared p-value over-rejects (rare 1 -> 1
    transitions), its Monte Carlo p-value does not."""
    rng = np.random.default_rng(9)
    runs, rejected = 2000, {"pof": 0, "ind": 0, "cc": 0, "ind_mc": 0}
    for run in range(runs):
        hits = rng.random(1000) < 0.05
        rejected["pof"] += kupiec_pof(hits, 0.05).rejects()
        rejected["ind"] += christoffersen_independence(hits).rejects()
        rejected["cc"] += conditional_coverage(hits, 0.05).rejects()
        if run < 400:
            mc = christoffersen_independence(hits, simulations=199, seed=run)
            rejected["ind_mc"] += mc.rejects()
    rates = {k: v / (400 if k == "ind_mc" else runs) for k, v in rejected.items()}
    assert 0.03 <= rates["pof"] <= 0.07 and 0.03 <= rates["cc"] <= 0.07, rates
    assert rates["ind"] > 0.07, rates  # the asymptotic p-value's known size distortion
    assert rates["ind_mc"] <= 0.065, rates


def test_bad_hits_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="0/1"):
        kupiec_pof(np.array([0.0, 0.5]), 0.05)
    with pytest.raises(ValueError, match="non-empty"):
        christoffersen_independence(np.array([]))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        kupiec_pof(np.zeros(10), 1.5)
