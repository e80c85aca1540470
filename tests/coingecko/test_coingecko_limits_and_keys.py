"""Unit tests: the token bucket, the monthly counter, the quota arithmetic, settings and keys."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cryptosignals import settings
from cryptosignals.coingecko import ApiKey, CallCounter, CoinGeckoClient, TokenBucket
from cryptosignals.coingecko.client import range_windows, resolve_api_key
from cryptosignals.coingecko.errors import (
    AuthenticationError,
    QuotaExhaustedError,
    TimeBudgetExceededError,
)
from cryptosignals.coingecko.limits import shared_bucket
from cryptosignals.coingecko.quota import (
    backfill_calls,
    calls_per_month,
    calls_per_poll,
    min_cadence_min,
    quota_table,
)
from cryptosignals.errors import BadInputError


class FakeTime:
    """A clock whose sleep advances it: a minute of rate limiting in microseconds."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_never_allows_more_than_rate_calls_in_any_window() -> None:
    fake = FakeTime()
    bucket = TokenBucket(30, 60.0, clock=fake.clock, sleep=fake.sleep)
    stamps = []
    for _ in range(200):
        bucket.acquire()
        stamps.append(fake.now)
    for i, start in enumerate(stamps):
        in_window = sum(1 for t in stamps[i:] if t - start < 60.0)
        assert in_window <= 30
    assert stamps[-1] - stamps[0] == pytest.approx(199 * 2.0)


def test_a_burst_is_allowed_up_to_its_size_then_calls_are_spaced() -> None:
    fake = FakeTime()
    bucket = TokenBucket(60, 60.0, burst=5, clock=fake.clock, sleep=fake.sleep)
    waits = [bucket.acquire() for _ in range(7)]
    assert waits[:5] == [0.0] * 5 and waits[5] == pytest.approx(1.0)


def test_a_wait_past_the_deadline_raises_at_once_and_keeps_the_token() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1, 60.0, clock=fake.clock, sleep=fake.sleep)
    bucket.acquire()
    with pytest.raises(TimeBudgetExceededError) as caught:
        bucket.acquire(deadline=fake.now + 10)
    assert fake.now == 1000.0 and caught.value.retry_after == pytest.approx(60.0)
    fake.now += 60
    assert bucket.acquire(deadline=fake.now + 1) == 0.0


def test_clients_of_one_host_share_the_process_bucket() -> None:
    a = CoinGeckoClient("demo", base_url="http://127.0.0.1:9/api/v3", rate_limit_per_min=30)
    b = CoinGeckoClient("demo", base_url="http://127.0.0.1:9/api/v3", rate_limit_per_min=30)
    assert a.bucket is b.bucket is shared_bucket("127.0.0.1:9", 30)


def test_the_counter_refuses_once_the_monthly_budget_is_spent_and_resets_next_month() -> None:
    moment = [datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()]
    counter = CallCounter(3, clock=lambda: moment[0])
    for _ in range(3):
        counter.check()
        counter.record()
    assert counter.remaining == 0
    with pytest.raises(QuotaExhaustedError, match="3 calls"):
        counter.check()
    moment[0] += 2 * 3600  # December
    assert counter.used == 0 and counter.remaining == 3


def test_the_counter_adds_up_across_runs_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.json"
    CallCounter(100, path).record(7)
    second = CallCounter(100, path)
    second.record()
    assert CallCounter(100, path).used == 8 and second.remaining == 92


def test_quota_arithmetic_matches_the_documented_table() -> None:
    rows = {(r.coins, r.cadence_min): r for r in quota_table()}
    assert rows[(100, 1)].calls_per_month == 43_200 and not rows[(100, 1)].fits
    assert rows[(250, 5)].calls_per_month == 8_640 and rows[(250, 5)].fits
    assert rows[(100, 15)].calls_per_month == 2_880
    assert rows[(1000, 1)].calls_per_month == 172_800
    assert rows[(1000, 5)].calls_per_month == 34_560
    assert rows[(1000, 15)].calls_per_month == 11_520 and not rows[(1000, 15)].fits
    assert calls_per_poll(250) == 1 and calls_per_poll(251) == 2 and calls_per_poll(1000) == 4
    assert calls_per_month(4, 5) == 8_640
    assert backfill_calls(4, 30) == 4 and backfill_calls(4, 365) == 20
    assert min_cadence_min(250) == pytest.approx(4.32)


def test_backfill_windows_cover_the_range_in_at_most_90_days_each() -> None:
    start, end = 1_700_000_000, 1_700_000_000 + 200 * 86_400
    windows = range_windows(start, end)
    assert len(windows) == 3 and windows[0][0] == start and windows[-1][1] == end
    assert all(hi - lo <= 90 * 86_400 for lo, hi in windows)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


# --- settings and keys -----------------------------------------------------------------------
def test_settings_give_the_plan_defaults_and_refuse_bad_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(settings.COINGECKO_PLAN, raising=False)
    monkeypatch.delenv(settings.COINGECKO_RATE_LIMIT_PER_MIN, raising=False)
    config = settings.coingecko()
    assert (config.plan, config.rate_limit_per_min, config.monthly_budget) == ("demo", 30, 10_000)
    assert config.ingest_cadence_min == 5
    monkeypatch.setenv(settings.COINGECKO_PLAN, "gold")
    with pytest.raises(BadInputError, match="COINGECKO_PLAN"):
        settings.coingecko()
    monkeypatch.setenv(settings.COINGECKO_PLAN, "pro")
    monkeypatch.setenv(settings.COINGECKO_RATE_LIMIT_PER_MIN, "fast")
    with pytest.raises(BadInputError, match="COINGECKO_RATE_LIMIT_PER_MIN"):
        settings.coingecko()


def test_the_key_never_shows_in_repr_str_or_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "CG-unit-test-not-a-real-key"
    key = ApiKey(secret)
    assert secret not in repr(key) and secret not in str(key) and secret not in f"{key}"
    with pytest.raises(TypeError):
        pickle.dumps(key)
    client = CoinGeckoClient("pro", api_key=secret, base_url="http://127.0.0.1:9/api/v3")
    assert secret not in repr(client) and "key=set" in repr(client)
    assert secret not in repr(vars(client))


def test_the_key_comes_from_the_environment_first_then_the_secret_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(settings.COINGECKO_API_KEY, "CG-from-env")
    monkeypatch.setenv(settings.COINGECKO_API_KEY_SECRET, "prod/coingecko")
    key = resolve_api_key(fetch_secret=lambda name: pytest.fail("not asked"))
    assert key is not None and key.reveal() == "CG-from-env"
    monkeypatch.delenv(settings.COINGECKO_API_KEY)
    asked = []
    key = resolve_api_key(fetch_secret=lambda name: asked.append(name) or "CG-from-secret")
    assert key is not None and key.reveal() == "CG-from-secret" and asked == ["prod/coingecko"]
    monkeypatch.delenv(settings.COINGECKO_API_KEY_SECRET)
    monkeypatch.setenv(settings.COINGECKO_API_KEY_PARAM, "/coingecko/key")
    key = resolve_api_key(fetch_parameter=lambda name: "CG-from-ssm")
    assert key is not None and key.reveal() == "CG-from-ssm"
    monkeypatch.delenv(settings.COINGECKO_API_KEY_PARAM)
    assert resolve_api_key() is None


def test_a_failing_secret_store_is_an_authentication_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(settings.COINGECKO_API_KEY, raising=False)
    monkeypatch.setenv(settings.COINGECKO_API_KEY_SECRET, "prod/coingecko")

    def broken(name: str) -> str:
        raise RuntimeError("AccessDenied for CG-leaky-value")

    with pytest.raises(AuthenticationError) as caught:
        resolve_api_key(fetch_secret=broken)
    assert "prod/coingecko" in str(caught.value) and "CG-leaky-value" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
