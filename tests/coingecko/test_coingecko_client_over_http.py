"""Integration: the client against the replay server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Callable

import numpy as np
import pytest
import requests
from cg_support import make_client

from cryptosignals.candles import (
    SAMPLE_COINS,
    Candles,
    candles_to_ticks,
    read_candles,
    sample_path,
)
from cryptosignals.coingecko import (
    CallCounter,
    CoinGeckoClient,
    FaultPlan,
    ReplayServer,
    TokenBucket,
)
from cryptosignals.coingecko.errors import (
    AuthenticationError,
    CloudflareBlockedError,
    CoinGeckoError,
    CoinNotFoundError,
    ConnectionFailedError,
    MalformedResponseError,
    PlanLimitError,
    QuotaExhaustedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TimeBudgetExceededError,
)
from cryptosignals.errors import RetryableError

pytestmark = pytest.mark.integration
Start = Callable[..., ReplayServer]
DAY = 86_400


# --- each call ---------------------------------------------------------------------------------
def test_ping_answers_like_coingecko(client: CoinGeckoClient) -> None:
    assert client.ping() == "(V3) To the Moon!"


def test_simple_price_gives_the_source_tick_at_the_replay_clock(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    quotes = client.simple_price([*SAMPLE_COINS, "no-such-coin"])
    assert set(quotes.ticks) == set(SAMPLE_COINS)
    assert "missing" in quotes.rejected["no-such-coin"]
    now = server.clock.now()
    for coin, tick in quotes.ticks.items():
        source = server.ticks(coin)
        i = int(np.searchsorted(source.timestamp, now, side="right")) - 1
        assert tick == source.ticks()[i]
        assert tick.timestamp <= now


def test_markets_pages_through_every_coin_in_market_cap_order(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    quotes = client.markets(top=4, per_page=1)
    paths = [r.path for r in server.requests]
    assert paths == ["/api/v3/coins/markets"] * 4
    caps = [t.market_cap for t in quotes.ticks.values()]
    assert len(caps) == 4 and caps == sorted(caps, reverse=True)  # type: ignore[type-var]
    assert quotes.ticks == client.markets(top=4).ticks  # one page of 250 gives the same


def test_markets_stops_at_a_short_page_and_reports_missing_ids(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    quotes = client.markets(ids=["bitcoin", "solana", "no-such-coin"], per_page=2)
    assert set(quotes.ticks) == {"bitcoin", "solana"} and "no-such-coin" in quotes.rejected
    assert len(server.requests) == 2  # page 2 had fewer than 2 coins: the walk stopped


def test_market_chart_follows_coingeckos_granularity_rules(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    server.clock.set(server.clock.last - 3 * 3600 - 120)
    now = server.clock.now()
    day = client.market_chart("bitcoin", 1).series
    assert set(np.diff(day.timestamp)) == {300}
    assert day.timestamp[-1] <= now and now - day.timestamp[-1] < 300
    assert len(day) == 288  # a day of 5-minute points, like CoinGecko
    week = client.market_chart("ethereum", 7).series
    assert set(np.diff(week.timestamp[:-1])) == {3600}
    assert week.timestamp[-1] == day.timestamp[-1]  # plus the final "now" point
    source = server.ticks("ethereum")
    index = np.searchsorted(source.timestamp, week.timestamp)
    np.testing.assert_array_equal(week.price, source.price[index])
    np.testing.assert_array_equal(week.volume_24h, source.volume_24h[index])  # 24h, not summed


def _hourly_candles(days: int, start: int = 1_735_689_600) -> Candles:
    """Synthetic hourly candles (a random walk): long enough to need several range windows."""
    rng = np.random.default_rng(5)
    n = days * 24
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opened = np.r_[100.0, close[:-1]]
    return Candles(
        np.arange(n, dtype=np.int64) * 3_600_000 + start * 1000,
        opened,
        np.maximum(opened, close) * 1.001,
        np.minimum(opened, close) * 0.999,
        close,
        rng.uniform(1e6, 2e6, n),
    )


def test_market_chart_range_is_chunked_into_hourly_windows_and_joined(start_server: Start) -> None:
    candles = _hourly_candles(200)
    server = start_server({"testcoin": candles})
    server.clock.set(server.clock.last)
    end = server.clock.now()
    with make_client(server) as client:
        chart = client.market_chart_range("testcoin", end - 180 * DAY, end)
    assert len(server.requests) == 2 and chart.rejected == []
    stamps = chart.series.timestamp
    assert set(np.diff(stamps)) == {3600} and stamps[0] == end - 180 * DAY
    expected = candles_to_ticks("testcoin", candles)
    index = np.searchsorted(expected.timestamp, stamps)
    np.testing.assert_array_equal(chart.series.price, expected.price[index])


def test_ohlc_candles_aggregate_the_source_candles(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    candle_set = client.ohlc("solana", 1)
    candles = candle_set.candles
    assert candle_set.rejected == [] and set(np.diff(candles.timestamp)) == {1_800_000}
    source = read_candles(sample_path("solana"))
    first = np.searchsorted(source.timestamp, candles.timestamp[-1])
    six = source[first : first + 6]  # the six 5-minute candles of the last 30-minute candle
    assert candles.open[-1] == six.open[0] and candles.close[-1] == six.close[-1]
    assert candles.high[-1] == six.high.max() and candles.low[-1] == six.low.min()
    assert (candles.timestamp[-1] + 1_800_000) // 1000 <= server.clock.now()


def test_errors_of_the_api_arrive_as_typed_errors(server: ReplayServer) -> None:
    with make_client(server, plan="pro") as client:
        with pytest.raises(CoinNotFoundError, match="coin not found"):
            client.market_chart("no-such-coin", 1)
        with pytest.raises(PlanLimitError) as caught:
            client.market_chart("bitcoin", 400)  # the server speaks Demo: code 10012
        assert caught.value.code == 10012 and caught.value.status == 401
    requests_before = len(server.requests)
    with make_client(server) as demo, pytest.raises(PlanLimitError):
        demo.market_chart("bitcoin", 400)  # the Demo client knows: no call is spent
    assert len(server.requests) == requests_before


# --- keys ------------------------------------------------------------------------------------
def test_the_demo_key_is_accepted_as_header_or_query_and_checked(start_server: Start) -> None:
    key = "CG-" + secrets.token_hex(12)
    server = start_server(require_key=key)
    with make_client(server, api_key=key) as good:
        assert good.ping()
    answer = requests.get(f"{server.url}/ping", params={"x_cg_demo_api_key": key}, timeout=5)
    assert answer.status_code == 200
    with make_client(server) as keyless, pytest.raises(AuthenticationError) as missing:
        keyless.ping()
    assert missing.value.code == 10002 and missing.value.status == 401
    with make_client(server, api_key=key + "x") as wrong, pytest.raises(AuthenticationError):
        wrong.ping()
    with (
        make_client(server, plan="pro", api_key=key) as pro,
        pytest.raises(AuthenticationError) as e,
    ):
        pro.ping()
    assert e.value.code == 10010


def test_a_demo_key_on_a_pro_server_gets_10011(start_server: Start) -> None:
    key = "CG-" + secrets.token_hex(12)
    server = start_server(require_key=key, key_mode="pro")
    with make_client(server, api_key=key) as demo, pytest.raises(AuthenticationError) as caught:
        demo.ping()
    assert caught.value.code == 10011 and caught.value.status == 400
    with make_client(server, plan="pro", api_key=key) as pro:
        assert pro.ping()


def test_the_key_never_appears_in_logs_errors_or_reprs(
    start_server: Start, caplog: pytest.LogCaptureFixture
) -> None:
    key = "CG-" + secrets.token_hex(12)
    server = start_server(require_key=key)
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    with make_client(server, api_key=key, time_budget_s=3.0, timeout_s=0.3) as client:
        client.ping()
        server.inject("503", "503", "slow", "truncated")
        for call in (client.ping, client.ping):
            try:
                call()
            except CoinGeckoError as exc:
                failures.append(exc)
        try:
            client.market_chart("no-such-coin", 1)
        except CoinGeckoError as exc:
            failures.append(exc)
        text = repr(client) + repr(vars(client))
    with make_client(server, api_key=key + "-wrong") as wrong:
        try:
            wrong.ping()
        except CoinGeckoError as exc:
            failures.append(exc)
    closed = start_server()
    closed.stop()  # nothing listens there now: a connection error, retried, then raised
    try:
        with make_client(closed, api_key=key, time_budget_s=1.0) as offline:
            offline.ping()
    except CoinGeckoError as exc:
        assert exc.__context__ is None and exc.__cause__ is None  # requests' error held the key
        failures.append(exc)
    assert len(failures) == 4
    text += "".join("".join(traceback.format_exception(exc)) for exc in failures)
    text += "".join(record.getMessage() for record in caplog.records)
    assert caplog.records  # urllib3 and the client did log the requests
    assert key not in text


# --- the rate limit, measured by the server -------------------------------------------------
def test_the_rate_limiter_never_exceeds_n_calls_per_window_measured_by_the_server(
    start_server: Start,
) -> None:
    """A one-second window stands for CoinGecko's minute (same arithmetic, 60x faster)."""
    server = start_server(rate_limit=5, rate_window_s=1.0)
    with make_client(server, bucket=TokenBucket(5, 1.0)) as client:
        for _ in range(11):
            client.ping()
    # CoinGecko's fixed windows, counted by the server: never over the limit, so never a 429.
    assert [r.status for r in server.requests] == [200] * 11
    # Any sliding window too, allowing 100 ms for arrival jitter on a loaded machine.
    assert server.max_in_window(1.0 - 0.1) <= 5
    spread = server.requests[-1].at - server.requests[0].at
    assert spread >= 10 * 0.2 * 0.95  # spaced per / rate apart


def test_without_the_limiter_the_server_does_throttle(start_server: Start) -> None:
    server = start_server(rate_limit=5, rate_window_s=0.5)
    with make_client(server, retries=0) as client, pytest.raises(RateLimitedError):
        for _ in range(16):
            client.ping()
    assert 429 in [r.status for r in server.requests]


def test_a_throttled_client_waits_for_coingeckos_reset_date_and_gets_through(
    start_server: Start,
) -> None:
    server = start_server(rate_limit=2, rate_window_s=1.0)  # no Retry-After: the reset date only
    with make_client(server) as client:
        began = time.monotonic()
        for _ in range(4):
            assert client.ping()
        elapsed = time.monotonic() - began
    statuses = [r.status for r in server.requests]
    assert 429 in statuses and statuses.count(200) == 4
    assert elapsed < 2.5  # waited for the next one-second window, not for the 60 s default


# --- retries and the time budget ----------------------------------------------------------
def test_5xx_answers_are_retried_and_every_attempt_is_counted(start_server: Start) -> None:
    server = start_server()
    counter = CallCounter(1000)
    with make_client(server, counter=counter) as client:
        server.inject("503", "502", "500", "504")
        assert client.ping()
    assert [r.status for r in server.requests] == [503, 502, 500, 504, 200]
    assert counter.used == 5


def test_a_429_waits_for_retry_after_then_succeeds(start_server: Start) -> None:
    server = start_server(retry_after=True)
    with make_client(server) as client:
        server.inject("429")
        began = time.monotonic()
        assert client.ping()
        waited = time.monotonic() - began
    assert 1.0 <= waited < 2.5  # Retry-After: 1, plus at most 10 % jitter
    assert [r.status for r in server.requests] == [429, 200]


def test_a_429_without_retry_after_uses_the_configured_wait(start_server: Start) -> None:
    server = start_server()
    with make_client(server, rate_limited_wait_s=0.3) as client:
        server.inject("429")
        began = time.monotonic()
        assert client.ping()
        assert time.monotonic() - began >= 0.3


def test_a_slow_answer_times_out_and_the_retry_gets_through(start_server: Start) -> None:
    server = start_server(faults=FaultPlan(slow_s=3.0))
    with make_client(server, timeout_s=0.4) as client:
        server.inject("slow")
        began = time.monotonic()
        assert client.ping()
        assert time.monotonic() - began < 2.0


def test_seeded_random_faults_are_survived_and_repeat_with_the_seed(start_server: Start) -> None:
    plan = FaultPlan({"429": 0.15, "5xx": 0.25}, seed=11)
    runs = []
    for _ in range(2):
        server = start_server(faults=plan)
        with make_client(server, rate_limited_wait_s=0.05, retries=8) as client:
            for _ in range(12):
                assert set(client.simple_price(SAMPLE_COINS).ticks) == set(SAMPLE_COINS)
        runs.append([r.fault for r in server.requests])
    assert runs[0] == runs[1] and sum(f is not None for f in runs[0]) >= 3


def test_a_malformed_body_is_not_retried_but_reported(start_server: Start) -> None:
    server = start_server()
    with make_client(server) as client:
        server.inject("truncated", "html")
        with pytest.raises(MalformedResponseError, match="truncated"):
            client.simple_price(["bitcoin"])
        with pytest.raises(MalformedResponseError, match="not JSON"):
            client.simple_price(["bitcoin"])
    assert len(server.requests) == 2


def test_a_connection_broken_mid_answer_is_a_retryable_connection_error(
    start_server: Start,
) -> None:
    server = start_server()
    with make_client(server) as client:
        server.inject("drop")
        with pytest.raises(ConnectionFailedError) as caught:
            client.simple_price(["bitcoin"])
        assert isinstance(caught.value, RetryableError)
        assert client.simple_price(["bitcoin"]).ticks  # the next call is fine


def test_retries_stop_at_the_time_budget_with_the_last_answer(start_server: Start) -> None:
    server = start_server()
    with make_client(
        server, time_budget_s=1.0, timeout_s=0.2, backoff_factor=0.1, retries=20
    ) as client:
        server.inject(*["503"] * 20)
        began = time.monotonic()
        with pytest.raises(ServerError, match="time budget") as caught:
            client.ping()
        elapsed = time.monotonic() - began
    assert elapsed <= 1.0 + 0.1 and isinstance(caught.value, RetryableError)
    assert 2 <= len(server.requests) < 20


def test_slow_answers_cannot_stretch_a_call_past_its_budget(start_server: Start) -> None:
    server = start_server(faults=FaultPlan({"slow": 1.0}, slow_s=5.0))
    with make_client(server, time_budget_s=1.2, timeout_s=0.5) as client:
        began = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            client.ping()
        assert time.monotonic() - began < 1.2 + 0.2  # the budget, plus scheduling slack


def test_a_rate_limit_wait_past_the_budget_fails_at_once(start_server: Start) -> None:
    server = start_server()
    with make_client(server, bucket=TokenBucket(1, 60.0), time_budget_s=5.0) as client:
        client.ping()
        began = time.monotonic()
        with pytest.raises(TimeBudgetExceededError):
            client.ping()
        assert time.monotonic() - began < 0.5
    assert len(server.requests) == 1


def test_a_cloudflare_ban_is_not_hammered(start_server: Start) -> None:
    server = start_server()
    with make_client(server, time_budget_s=120.0, timeout_s=1.0) as client:
        server.inject("1015", "1015")  # a JSON 429 would be retried after 60 s: this is not
        with pytest.raises(CloudflareBlockedError) as caught:
            client.ping()
    assert caught.value.retry_after is not None and caught.value.retry_after >= 300
    assert len(server.requests) == 1  # the ban's minutes do not fit the budget: no retry


def test_the_monthly_budget_stops_calls_before_they_are_made(start_server: Start) -> None:
    server = start_server()
    with make_client(server, counter=CallCounter(3)) as client:
        for _ in range(3):
            client.ping()
        assert client.calls_remaining == 0
        with pytest.raises(QuotaExhaustedError):
            client.ping()
    assert len(server.requests) == 3


def test_a_connection_refused_is_a_retryable_error(start_server: Start) -> None:
    server = start_server()
    client = make_client(server, time_budget_s=1.0, retries=2)
    server.stop()
    with client, pytest.raises(CoinGeckoError) as caught:
        client.ping()
    assert isinstance(caught.value, RetryableError)


# --- the replayed day equals the source --------------------------------------------------------
def test_quotes_fetched_over_a_replayed_day_equal_the_source_candles(
    server: ReplayServer, client: CoinGeckoClient
) -> None:
    """A day of 5-minute polls through the client (simple_price and markets) sees exactly the
    ticks `candles_to_ticks` makes from the candle files."""
    source = {c: candles_to_ticks(c, read_candles(sample_path(c))) for c in SAMPLE_COINS}
    first = source["bitcoin"].timestamp[0] + 2 * DAY - 300  # a day with every 24h figure known
    control = requests.Session()  # the clock is moved over HTTP, as another process would
    control.post(f"{server.root_url}/_replay/set", params={"t": first}, timeout=5)
    seen = {c: [] for c in SAMPLE_COINS}
    for _ in range(288):
        simple = client.simple_price(SAMPLE_COINS)
        markets = client.markets(ids=SAMPLE_COINS)
        assert simple.rejected == {} and markets.rejected == {}
        for coin in SAMPLE_COINS:
            assert markets.ticks[coin] == simple.ticks[coin]
            seen[coin].append(simple.ticks[coin])
        control.post(f"{server.root_url}/_replay/advance", params={"seconds": 300}, timeout=5)
    for coin in SAMPLE_COINS:
        ticks = source[coin].ticks()
        start = int(np.searchsorted(source[coin].timestamp, first))
        assert seen[coin] == ticks[start : start + 288]
        assert seen[coin][0].timestamp == first and len(set(seen[coin])) == 288
