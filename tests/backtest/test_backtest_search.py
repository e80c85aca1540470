"""Parameter search: grid and Bayesian, walk-forward with in- and out-of-sample figures."""

from __future__ import annotations

import itertools

import pytest
from bt_support import random_walk

from cryptosignals.backtest import Backtest, BacktestConfig, make_rule
from cryptosignals.backtest.search import Search, parse_duration, parse_walk_forward
from cryptosignals.errors import BadInputError

GRID = {"fast": [5, 10, 20], "slow": [10, 30, 60]}


def test_the_grid_ranks_every_valid_pair_with_the_backtests_own_figures() -> None:
    c = random_walk(3000, 21)
    search = Search(c, "ma_cross", GRID, BacktestConfig(fee_bps=5), objective="total_return")
    ranking = search.run().ranking
    assert len(ranking) == 7  # of 9 pairs, (10, 10) and (20, 10) are not fast < slow
    assert [e.score for e in ranking] == sorted((e.score for e in ranking), reverse=True)
    for e in ranking[:3]:
        full = Backtest(c, [make_rule("ma_cross", e.params)], BacktestConfig(fee_bps=5)).run()
        assert e.metrics.total_return == pytest.approx(full.metrics.total_return, rel=1e-12)
        assert e.metrics.n_trades == full.metrics.n_trades


def test_walk_forward_windows_roll_and_test_windows_follow_their_training() -> None:
    c = random_walk(4000, 22)
    search = Search(c, "ma_cross", GRID)
    result = search.run((1000, 500))
    folds = result.folds
    assert len(folds) == len(search.folds(1000, 500)) >= 5
    for a, b in itertools.pairwise(folds):
        assert b.train_start == a.train_start + 500 and b.train_end == a.test_end
    for f in folds:
        assert f.train_end - f.train_start == 1000 and f.test_end - f.train_end == 500
        best = max(search.rank(f.train_start, f.train_end), key=lambda e: e.score)
        assert f.params == best.params  # chosen in sample only
        assert f.out_score == search.evaluate(f.params, f.train_end, f.test_end).score
    summary = result.summary()
    assert len(summary["folds"]) == len(folds)
    assert "out_of_sample_return" in summary


def test_an_out_of_sample_score_never_depends_on_later_prices() -> None:
    a, b = random_walk(4000, 23), random_walk(4000, 23)
    b.close[3500:] *= 1.5  # a different future after bar 3500
    fold_a = Search(a, "ma_cross", GRID).run((1000, 500)).folds
    fold_b = Search(b, "ma_cross", GRID).run((1000, 500)).folds
    done = [f for f in fold_a if f.test_end <= 3500]
    assert done and all(x == y for x, y in zip(done, fold_b, strict=False))


def test_bayesian_search_is_seeded_and_stays_inside_the_ranges() -> None:
    pytest.importorskip("optuna")
    c = random_walk(3000, 24)
    space = {"fast": [3, 20], "slow": [25, 120]}
    one = Search(c, "ma_cross", space, method="bayes", n_trials=15, seed=3).run()
    two = Search(c, "ma_cross", space, method="bayes", n_trials=15, seed=3).run()
    assert [e.params for e in one.ranking] == [e.params for e in two.ranking]
    assert all(3 <= e.params["fast"] <= 20 and 25 <= e.params["slow"] <= 120 for e in one.ranking)
    assert len(one.ranking) > 5


def test_durations_and_walk_forward_specs() -> None:
    assert parse_duration("7d", 300) == 2016
    assert parse_duration("12h", 300) == 144
    assert parse_duration("2", 300) == 576  # bare numbers are days
    assert parse_walk_forward("7d:2d", 300) == (2016, 576)
    for bad in ("7d", "x:1d", "1s:1d"):
        with pytest.raises(BadInputError):
            parse_walk_forward(bad, 300)


def test_search_errors_are_clear() -> None:
    c = random_walk(1000, 25)
    with pytest.raises(BadInputError, match="too little data"):
        Search(c, "ma_cross", GRID).run((800, 400))
    with pytest.raises(BadInputError, match="no valid parameter set"):
        Search(c, "ma_cross", {"fast": [50], "slow": [20]}).run()
    with pytest.raises(BadInputError, match="unknown parameter"):
        Search(c, "ma_cross", {"speed": [1, 2]})
    with pytest.raises(BadInputError, match="unknown objective"):
        Search(c, "ma_cross", GRID, objective="luck")
