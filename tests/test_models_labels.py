"""Labels: forward-return signs net of a cost, triple barriers, and when each was known."""

from __future__ import annotations

import numpy as np
import pytest

from cryptosignals.models.labels import target_seconds, triple_barrier, up_labels


def test_target_names_give_their_horizon() -> None:
    assert target_seconds("up_1h") == 3600 and target_seconds("up_5m") == 300
    assert target_seconds("up_30m") == 1800
    for bad in ("up_7m", "down_1h", "up_0m"):
        with pytest.raises(ValueError):
            target_seconds(bad)


def test_up_labels_are_net_of_cost_and_unknown_without_the_future_bar() -> None:
    end = np.array([300, 600, 900, 1200, 1800, 2100])  # a gap: no bar closes at 1500
    close = np.array([100.0, 101.0, 100.5, 100.6, 99.0, 99.5])
    labels = up_labels(end, close, 300, cost=0.002)
    # 100 -> 101 (+1 %) up; 101 -> 100.5 down; 100.5 -> 100.6 (+0.1 %) under the cost
    np.testing.assert_array_equal(labels.y[:3], [1.0, 0.0, 0.0])
    assert np.isnan(labels.y[3])  # the bar 5 minutes later is missing
    np.testing.assert_array_equal(labels.y[4], 1.0)
    assert np.isnan(labels.y[5])  # the end of the data
    np.testing.assert_array_equal(labels.label_end, end + 300)


def test_triple_barrier_reports_which_barrier_came_first_and_when() -> None:
    end = np.arange(1, 30) * 300
    steps = np.zeros(29)
    steps[2:5] = 0.01  # up 3 % by bar 4
    steps[12:16] = -0.01  # down 4 % by bar 15
    close = 100 * np.exp(np.cumsum(steps))
    sigma = np.full(29, 0.01)
    out = triple_barrier(end, close, np.array([0, 5, 10, 20, 27]), sigma, profit=1.5, stop=1.5,
                         timeout_s=1800)  # fmt: skip
    np.testing.assert_array_equal(out.label[:4], [1.0, 0.0, -1.0, 0.0])
    assert out.label_end[0] == end[3]  # +2 % > 1.5 sigma at bar 3's close
    assert out.label_end[1] == end[5] + 1800  # nothing moved: timeout
    assert out.label_end[2] == end[13]  # -2 % < -1.5 sigma at bar 13
    assert np.isnan(out.label[4])  # the data ends before the timeout
    short = triple_barrier(end, close, np.array([10]), sigma, 1.5, 1.5, 1800, side=np.array([-1.0]))
    assert short.label[0] == 1.0 and short.ret[0] > 0.015
