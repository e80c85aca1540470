"""Market context: the EW beta is the weighted regression, a planted beta comes back, the
trackers resume exactly and never look ahead, PC1 share and breadth mean what they say, the
market alert stays quiet on independent noise and fires on a market-wide move, the state is
small, and `cryptosignals market` works end to end on the bundled samples."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.candles import sample_path
from cryptosignals.market import (
    BAR_SECONDS,
    BETA_COLUMNS,
    MARKET_COLUMNS,
    BetaTracker,
    MarketTracker,
    align_closes,
    bar_returns,
)
from cryptosignals.synthetic import factor_bars

T0 = 1_740_000_000 - 1_740_000_000 % BAR_SECONDS


def _pair(n: int, beta: float, noise: float, seed: int) -> tuple[np.ndarray, ...]:
    """Bitcoin's and a coin's closes, coin return = beta x bitcoin's + noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.002, n)
    y = beta * x + rng.normal(0.0, noise, n)
    end = T0 + BAR_SECONDS * np.arange(n + 1)
    btc = 50_000 * np.exp(np.concatenate([[0.0], np.cumsum(x)]))
    coin = 20 * np.exp(np.concatenate([[0.0], np.cumsum(y)]))
    return end, coin, btc


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


# ---- BetaTracker -----------------------------------------------------------------------------

END, COIN, BTC = _pair(1500, 1.4, 0.002, seed=1)
WHOLE = BetaTracker(48.0).update(END, COIN, BTC)


def test_ew_beta_and_correlation_equal_a_direct_weighted_regression() -> None:
    tracker = BetaTracker(30.0, min_obs=1)
    out = tracker.update(END, COIN, BTC)
    x, y = np.diff(np.log(BTC)), np.diff(np.log(COIN))
    for t in (5, 100, 999, len(x)):  # returns 1..t are in bar t's estimate
        w = 0.5 ** (np.arange(t)[::-1] / 30.0)
        cov = np.cov(x[:t], y[:t], aweights=w, bias=True)
        beta = np.polyfit(x[:t], y[:t], 1, w=np.sqrt(w))[0]  # weighted least squares
        assert out["beta"][t] == pytest.approx(beta, rel=1e-8)
        assert out["beta"][t] == pytest.approx(cov[0, 1] / cov[0, 0], rel=1e-8)
        assert out["corr"][t] == pytest.approx(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), 1e-8)


def test_a_planted_beta_is_recovered() -> None:
    end, coin, btc = _pair(20_000, 1.7, 0.002, seed=2)
    out = BetaTracker(288.0).update(end, coin, btc)
    late = out["beta"][2000:]
    assert np.median(late) == pytest.approx(1.7, abs=0.05)
    assert np.quantile(late, 0.05) > 1.5 and np.quantile(late, 0.95) < 1.9
    expected = 1.7 * 0.002 / np.hypot(1.7 * 0.002, 0.002)  # 0.86
    assert np.median(out["corr"][2000:]) == pytest.approx(expected, abs=0.03)


def test_a_missing_bar_on_either_side_is_skipped_never_filled() -> None:
    coin, btc = COIN.copy(), BTC.copy()
    coin[200], btc[700] = np.nan, np.nan
    out = BetaTracker(30.0, min_obs=1).update(END, coin, btc)
    x, y = np.diff(np.log(btc)), np.diff(np.log(coin))
    keep = np.isfinite(x) & np.isfinite(y)  # returns into and out of a missing bar are gone
    assert (~keep).sum() == 4
    xs, ys = x[keep], y[keep]
    w = 0.5 ** (np.arange(len(xs))[::-1] / 30.0)
    cov = np.cov(xs, ys, aweights=w, bias=True)
    assert out["beta"][-1] == pytest.approx(cov[0, 1] / cov[0, 0], rel=1e-8)
    assert np.isnan(out["beta"][[200, 700]]).all()
    # an hour's move needs the bar an hour before: none right after the gap's hour
    assert np.isnan(out["coin_move"][200 + 12]) and np.isfinite(out["coin_move"][200 + 13])


def test_a_gap_in_time_breaks_the_return_and_the_window() -> None:
    end = END.copy()
    end[800:] += BAR_SECONDS  # one bar never came
    out = BetaTracker(30.0, min_obs=1).update(end, COIN, BTC)
    ref = BetaTracker(30.0, min_obs=1).update(END[:800], COIN[:800], BTC[:800])
    x, y = np.diff(np.log(BTC)), np.diff(np.log(COIN))
    keep = np.arange(len(x)) != 799  # the return across the gap
    w = 0.5 ** (np.arange(keep.sum())[::-1] / 30.0)
    cov = np.cov(x[keep], y[keep], aweights=w, bias=True)
    assert out["beta"][-1] == pytest.approx(cov[0, 1] / cov[0, 0], rel=1e-8)
    np.testing.assert_array_equal(out["beta"][:800], ref["beta"])
    # an hour's move is close to close an hour apart: only the bar whose hour-ago bar is the
    # missing one has none
    assert np.flatnonzero(np.isnan(out["coin_move"][12:])).tolist() == [811 - 12]


def test_a_move_that_is_bitcoin_s_is_btc_driven_and_a_coin_s_own_is_not() -> None:
    end, coin, btc = _pair(600, 1.2, 0.0005, seed=3)
    coin, btc = coin.copy(), btc.copy()
    btc[500:512] *= np.exp(np.linspace(0.002, 0.024, 12))  # bitcoin +2.4 % in an hour
    coin[500:512] *= np.exp(np.linspace(0.0024, 0.0288, 12))  # the coin 1.2x that
    coin[512:] *= np.exp(0.0288)
    btc[512:] *= np.exp(0.024)
    coin[560:572] *= np.exp(np.linspace(0.003, 0.036, 12))  # later: the coin alone, +3.6 %
    coin[572:] *= np.exp(0.036)
    out = BetaTracker(288.0).update(end, coin, btc)
    assert out["btc_driven"][511] and out["explained_share"][511] > 0.8
    assert not out["btc_driven"][571] and out["explained_share"][571] < 0.2
    assert out["own_move"][571] == pytest.approx(0.036, abs=0.004)
    assert out["coin_move"][511] == pytest.approx(
        out["beta"][511] * out["btc_move"][511] + out["own_move"][511]
    )
    assert list(out) == list(BETA_COLUMNS)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, len(END)), max_size=8), via_json=st.booleans())
def test_beta_fed_in_chunks_equals_fed_whole(cuts: list[int], via_json: bool) -> None:
    tracker, parts = BetaTracker(48.0), []
    bounds = [0, *sorted(cuts), len(END)]
    for a, b in itertools.pairwise(bounds):
        parts.append(tracker.update(END[a:b], COIN[a:b], BTC[a:b]))
        if via_json:
            tracker = BetaTracker(48.0, state=json.loads(json.dumps(tracker.to_json())))
    _same(_concat(parts), WHOLE)


@settings(max_examples=10, deadline=None)
@given(t=st.integers(1, len(END) - 1), seed=st.integers(0, 2**16))
def test_beta_future_bars_cannot_change_past_values(t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    coin, btc = COIN.copy(), BTC.copy()
    coin[t:] *= np.exp(rng.normal(0, 0.05, len(coin) - t))
    btc[t:] *= np.exp(rng.normal(0, 0.05, len(btc) - t))
    out = BetaTracker(48.0).update(END, coin, btc)
    _same({k: v[:t] for k, v in out.items()}, {k: v[:t] for k, v in WHOLE.items()})


def test_beta_rejects_bars_out_of_order_and_bad_state() -> None:
    tracker = BetaTracker(48.0)
    tracker.update(END[:10], COIN[:10], BTC[:10])
    with pytest.raises(ValueError, match="increase"):
        tracker.update(END[5:8], COIN[5:8], BTC[5:8])
    with pytest.raises(ValueError, match="version"):
        BetaTracker(48.0, state={"version": 0})


# ---- MarketTracker ---------------------------------------------------------------------------


def test_pc1_share_is_near_1_for_one_factor_and_near_1_over_n_for_independent_coins() -> None:
    one = MarketTracker(list(factor_bars(2000, 5, 0.002, 0.0002, 4)), halflife=24.0)
    out = one.update(factor_bars(2000, 5, 0.002, 0.0002, 4))
    assert np.nanmedian(out["pc1_share"]) > 0.95 and np.nanmedian(out["mean_corr"]) > 0.95
    independent = factor_bars(6000, 5, 0.0, 0.002, 5)
    out = MarketTracker(list(independent), halflife=288.0).update(independent)
    # 1/5 plus the sampling bias of the largest eigenvalue: (1 + sqrt(5 / ~830))^2 / 5 ~ 0.23
    assert 0.2 <= np.nanmedian(out["pc1_share"][1000:]) <= 0.27
    assert abs(np.nanmedian(out["mean_corr"][1000:])) < 0.02


def test_breadth_on_hand_made_bars() -> None:
    end = T0 + BAR_SECONDS * np.arange(14)
    ups = {"a": 0.01, "b": 0.01, "c": 0.01, "d": -0.01, "e": 0.0}  # per bar
    bars = {coin: (end, 100 * np.exp(step * np.arange(14))) for coin, step in ups.items()}
    tracker = MarketTracker(list(bars), ma_bars=4, min_obs=2)
    out = tracker.update(bars)
    assert list(out) == [*MARKET_COLUMNS, "closes"]
    np.testing.assert_array_equal(out["closes"][:, 3], bars["d"][1])
    # 12 returns make an hour: from bar 12 on, a, b, c are up, d down, e flat (not up)
    assert np.isnan(out["breadth_up"][:12]).all()
    assert out["breadth_up"][12:].tolist() == [0.6, 0.6]
    assert out["market_move"][12] == pytest.approx(0.12, abs=1e-4)
    # above the moving average from the 4th return on: a, b, c rising; d below, e on it
    assert np.isnan(out["breadth_ma"][:4]).all() and (out["breadth_ma"][4:] == 0.6).all()
    assert (out["n_coins"] == 5).all()


def test_a_time_waits_for_every_coin_then_settles_and_late_bars_are_counted() -> None:
    end = T0 + BAR_SECONDS * np.arange(5)
    price = np.full(5, 10.0)
    tracker = MarketTracker(["a", "b", "c"], wait_bars=2)
    out = tracker.update({"a": (end, price), "b": (end[:3], price[:3])})
    assert out["end"].tolist() == end[:3].tolist()  # a, b complete + c waited 2 bars
    out = tracker.update({"b": (end[3:], price[3:]), "c": (end[2:], price[2:])})
    assert out["end"].tolist() == end[3:].tolist() and out["n_coins"].tolist() == [3, 3]
    assert tracker.late == 1  # c's bar at end[2] came after its time was settled
    assert tracker.latest() is not None and tracker.latest()["end"] == int(end[-1])


MARKET = factor_bars(900, 6, 0.0015, 0.0015, 6)
# one coin's bars arrive a bar late, as when its tick closes the bar in the next batch
WHOLE_MARKET = MarketTracker(list(MARKET), min_coins=3).update(MARKET)


@settings(max_examples=12, deadline=None)
@given(cuts=st.lists(st.integers(0, 900), max_size=6), via_json=st.booleans())
def test_market_fed_in_batches_equals_fed_whole(cuts: list[int], via_json: bool) -> None:
    tracker, parts = MarketTracker(list(MARKET), min_coins=3), []
    bounds = [0, *sorted(cuts), 900]
    for a, b in itertools.pairwise(bounds):
        batch = {}
        for coin, (e, c) in MARKET.items():
            lag = 1 if coin == "c0" else 0  # c0 one bar behind the others
            lo, hi = max(a - lag, 0), max(b - lag, 0) if b < 900 else 900
            batch[coin] = (e[lo:hi], c[lo:hi])
        parts.append(tracker.update(batch))
        if via_json:
            state = json.loads(json.dumps(tracker.to_json()))
            tracker = MarketTracker(list(MARKET), state=state, min_coins=3)
    parts.append(tracker.flush())
    _same(_concat(parts), WHOLE_MARKET)


@settings(max_examples=10, deadline=None)
@given(t=st.integers(1, 899), seed=st.integers(0, 2**16))
def test_market_future_bars_cannot_change_past_values(t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    changed = {c: (e, np.where(np.arange(900) >= t, p * rng.lognormal(0, 0.05, 900), p))
               for c, (e, p) in MARKET.items()}  # fmt: skip
    out = MarketTracker(list(MARKET), min_coins=3).update(changed)
    _same({k: v[:t] for k, v in out.items()}, {k: v[:t] for k, v in WHOLE_MARKET.items()})


def _alerts_per_day(bars: dict[str, tuple], **kw: float) -> tuple[float, np.ndarray]:
    tracker = MarketTracker(list(bars), **kw)  # type: ignore[arg-type]
    out = tracker.update(bars)
    return float((out["alert"] != "").sum() / (len(out["end"]) / 288)), out["alert"]


def test_the_market_alert_is_rare_on_independent_noise() -> None:
    # 11 independent coins: 0.13 breadth alerts a day and no PC1 jump over 300 days
    # (benchmarks/market.py; 2.2 a day on the real coins); 20 days here
    rate, alert = _alerts_per_day(factor_bars(20 * 288, 11, 0.0, 0.002, 9))
    assert rate <= 0.5
    assert "pc1_jump" not in alert.tolist()


def test_the_market_alert_fires_on_a_planted_market_wide_move() -> None:
    fired = 0
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        n, at = 3 * 288, 2 * 288 + 100
        end = T0 + BAR_SECONDS * np.arange(n)
        bars = {}
        for j in range(11):
            r = rng.normal(0.0, 0.002, n)
            r[at : at + 6] += -0.004  # every coin -2.4 % in half an hour
            r[at + 6 : at + 12] += 0.006  # then +3.6 %
            bars[f"c{j}"] = (end, 10.0 * np.exp(np.cumsum(r)))
        _, alert = _alerts_per_day(bars)
        fired += bool((alert[at : at + 24] != "").any())
    assert fired == 5


def test_the_state_of_20_coins_is_one_small_json_item() -> None:
    bars = factor_bars(3 * 288, 20, 0.002, 0.003, 7)
    tracker = MarketTracker(list(bars))
    tracker.update(bars)
    text = json.dumps(tracker.to_json(), separators=(",", ":"))
    assert len(zlib.compress(text.encode(), 9)) <= 2048
    assert len(text) <= 8 * 1024


def test_the_stream_side_imports_no_training_library() -> None:
    code = ("import sys, cryptosignals.market; bad = {'scipy', 'sklearn', 'hmmlearn', 'arch'} & "
            "set(sys.modules); print(sorted(bad))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_state_of_other_coins_starts_afresh_and_a_broken_one_is_refused() -> None:
    tracker = MarketTracker(list(MARKET), min_coins=3)
    tracker.update(MARKET)
    other = MarketTracker(["bitcoin", "ethereum"], state=tracker.to_json())
    assert other.latest() is None and other.to_json()["last_end"] is None
    state = tracker.to_json()
    del state["m2"]
    with pytest.raises(ValueError, match="malformed"):
        MarketTracker(list(MARKET), state=state)
    with pytest.raises(ValueError, match="two distinct coins"):
        MarketTracker(["bitcoin"])


def test_align_closes_and_bar_returns_leave_missing_bars_missing() -> None:
    end = T0 + BAR_SECONDS * np.arange(4)
    ends, closes = align_closes({"a": (end, [1.0, 2, 4, 8]), "b": (end[[0, 1, 3]], [1.0, 1, 1])})
    assert ends.tolist() == end.tolist() and np.isnan(closes[2, 1])
    r = bar_returns(ends, closes)
    assert np.isnan(r[0]).all() and r[1:, 0] == pytest.approx(np.log(2))
    assert r[1, 1] == 0.0 and np.isnan(r[2:, 1]).all()


# ---- clusters (training side) ----------------------------------------------------------------


def test_clusters_find_two_planted_groups() -> None:
    from cryptosignals.models.market import correlation_clusters

    rng = np.random.default_rng(8)
    f, g = rng.normal(size=(2, 3000))
    cols = [f + 0.5 * rng.normal(size=3000) for _ in range(3)]
    cols += [g + 0.5 * rng.normal(size=3000) for _ in range(2)]
    returns = np.column_stack(cols)
    returns[::7, 1] = np.nan
    clusters = correlation_clusters(returns, ["a", "b", "c", "d", "e"], min_corr=0.5)
    assert sorted(map(sorted, clusters.groups())) == [["a", "b", "c"], ["d", "e"]]
    assert clusters.corr[0, 1] == pytest.approx(0.8, abs=0.03)


# ---- the command -----------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", "market", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.e2e
@pytest.mark.slow
def test_market_command_on_the_bundled_samples(tmp_path: Path) -> None:
    page = tmp_path / "market.html"
    files = [str(sample_path(c)) for c in ("bitcoin", "ethereum", "solana", "cardano")]
    result = _run("--input", *files, "--format", "json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    coins = {row["coin"]: row for row in out["coins"]}
    assert set(coins) == {"ethereum", "solana", "cardano"}  # bitcoin is the reference
    for row in coins.values():
        assert 0.8 < row["beta_median"] < 2.0 and 0.6 < row["corr_median"] < 0.95
        assert row["beta_p10"] <= row["beta_median"] <= row["beta_p90"]
        assert row["moves"] > 400 and 0.3 < row["btc_driven_share"] < 0.9
    assert 0.6 < out["market"]["pc1_share"]["median"] < 1.0
    assert out["clusters"] == [["solana", "cardano", "bitcoin", "ethereum"]]
    assert len(out["hourly"]) == 21 * 24 and out["hourly"][-1]["n_coins"] == 4
    text = page.read_text()
    assert text.count("<svg") == 3 and "ordered by cluster" in text
    csv_out = _run("--format", "csv", "--rows", "market")  # the samples by default
    assert csv_out.returncode == 0, csv_out.stderr
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("timestamp,n_coins,breadth_ma") and len(lines) == 21 * 288 + 1


@pytest.mark.e2e
@pytest.mark.slow
def test_market_command_says_clearly_what_is_wrong_with_its_inputs(tmp_path: Path) -> None:
    btc, eth = str(sample_path("bitcoin")), str(sample_path("ethereum"))
    one = _run("--input", btc)
    assert one.returncode != 0 and "at least two candle files" in one.stderr
    no_btc = _run("--input", eth, str(sample_path("solana")))
    assert no_btc.returncode != 0 and "no bitcoin file among the inputs" in no_btc.stderr
    shifted = tmp_path / "cardano_5m.csv.gz"
    with gzip.open(sample_path("cardano"), "rt") as f, gzip.open(shifted, "wt") as g:
        g.write(f.readline())
        for line in f:
            ts, rest = line.split(",", 1)
            g.write(f"{int(ts) + 60 * 86_400_000},{rest}")  # two months later
    unaligned = _run("--input", btc, str(shifted))
    assert unaligned.returncode != 0 and "are not aligned" in unaligned.stderr
    assert "Traceback" not in one.stderr + no_btc.stderr + unaligned.stderr
