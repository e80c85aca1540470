"""Unit tests: every CoinGecko answer, good, bad or an error, becomes a model or a typed error."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from cg_support import example, example_text

from cryptosignals.coingecko.errors import (
    AccessDeniedError,
    AuthenticationError,
    CloudflareBlockedError,
    CoinNotFoundError,
    InvalidRequestError,
    MalformedResponseError,
    PlanLimitError,
    RateLimitedError,
    ServerError,
)
from cryptosignals.coingecko.parsing import (
    error_fields,
    error_from_response,
    iso_to_epoch,
    parse_chart,
    parse_json,
    parse_markets,
    parse_ohlc,
    parse_simple_price,
    retry_after_s,
)
from cryptosignals.errors import BadInputError, PermanentError, RetryableError

COINS = ["bitcoin", "ethereum", "solana", "cardano"]
CLOUDFLARE_403 = (
    "<!DOCTYPE html><html><head><title>Access denied | api.coingecko.com used Cloudflare to "
    "restrict access</title></head><body>Error 1020</body></html>"
)
GATEWAY_504 = "<html><head><title>api.coingecko.com | 504: Gateway time-out</title></head></html>"


# --- error shapes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("error_404_coin_not_found.json", (None, "coin not found")),  # shape A
        ("error_429.json", (429, "You've exceeded the Rate Limit.")),  # shape B
        ("error_401.json", (10002, "API Key Missing.")),  # shape B + timestamp
        ("error_401_beyond_365_days.json", (10012, "Your request exceeds")),  # shape C
        ("error_400_demo_key_on_pro_host.json", (10011, "If you are using Demo")),  # shape D
    ],
)
def test_every_json_error_shape_gives_its_code_and_message(body: str, expected: tuple) -> None:
    code, message = error_fields(example(body))
    assert code == expected[0]
    assert message is not None and message.startswith(expected[1])


def test_a_normal_answer_is_not_mistaken_for_an_error() -> None:
    assert error_fields(example("simple_price.json")) is None
    assert error_fields(example("coins_markets.json")) is None
    assert error_fields({}) is None


@pytest.mark.parametrize(
    ("status", "body", "kind", "family", "code"),
    [
        (429, "error_429.json", RateLimitedError, RetryableError, 429),
        (429, "error_429_cloudflare_1015.txt", CloudflareBlockedError, RetryableError, None),
        (401, "error_401.json", AuthenticationError, PermanentError, 10002),
        (400, "error_400_demo_key_on_pro_host.json", AuthenticationError, PermanentError, 10011),
        (400, "error_400_pro_key_on_demo_host.json", AuthenticationError, PermanentError, 10010),
        (401, "error_401_beyond_365_days.json", PlanLimitError, PermanentError, 10012),
        (200, "error_401_beyond_365_days.json", PlanLimitError, PermanentError, 10012),
        (404, "error_404_coin_not_found.json", CoinNotFoundError, PermanentError, None),
        (400, "error_400_invalid_vs_currency.json", InvalidRequestError, PermanentError, None),
    ],
)
def test_each_error_answer_is_a_typed_error_in_the_right_family(
    status: int, body: str, kind: type, family: type, code: int | None
) -> None:
    error = error_from_response(status, example_text(body), path="/x")
    assert isinstance(error, kind) and isinstance(error, family)
    assert error.code == code
    assert error.status == status
    assert "/x" in str(error)


def test_cloudflare_and_gateway_html_pages_are_typed_by_status_and_quote_the_title() -> None:
    denied = error_from_response(403, CLOUDFLARE_403)
    assert isinstance(denied, AccessDeniedError) and isinstance(denied, PermanentError)
    assert "Access denied" in str(denied) and "<html" not in str(denied)
    gateway = error_from_response(504, GATEWAY_504)
    assert isinstance(gateway, ServerError) and isinstance(gateway, RetryableError)
    assert "504: Gateway time-out" in str(gateway)
    assert isinstance(error_from_response(500, '{"error":"Internal"}'), ServerError)
    assert isinstance(error_from_response(408, ""), ServerError)


def test_a_cloudflare_ban_waits_minutes_not_seconds() -> None:
    error = error_from_response(429, example_text("error_429_cloudflare_1015.txt"))
    assert error.retry_after is not None and error.retry_after >= 300


def test_a_429_carries_its_retry_after_from_any_header() -> None:
    body = example_text("error_429.json")
    assert error_from_response(429, body, {"Retry-After": "119"}).retry_after == 119
    assert error_from_response(429, body, {}).retry_after is None


def test_retry_after_is_read_from_seconds_http_dates_and_coingeckos_reset_date_string() -> None:
    now = datetime(2025, 7, 25, 14, 53, 30, tzinfo=UTC).timestamp()
    assert retry_after_s({"Retry-After": "7"}, now=now) == 7
    assert retry_after_s({"retry-after": "Fri, 25 Jul 2025 14:54:00 GMT"}, now=now) == 30
    assert retry_after_s({"x-ratelimit-reset": "2025-07-25 14:54:00 +0000"}, now=now) == 30
    assert retry_after_s({"x-ratelimit-reset": str(int(now) + 12)}, now=now) == 12
    assert retry_after_s({"x-ratelimit-reset": "soon"}, now=now) is None
    assert retry_after_s({}, now=now) is None


# --- bodies that are not usable JSON ---------------------------------------------------------
def test_a_truncated_body_is_a_malformed_response_that_says_so() -> None:
    text = json.dumps(example("simple_price.json"))
    with pytest.raises(MalformedResponseError, match="truncated JSON"):
        parse_json(200, text[: len(text) // 2], path="/simple/price")


@pytest.mark.parametrize("body", ["<html><title>Attention Required!</title></html>", "", "OK"])
def test_a_non_json_success_body_is_a_malformed_response(body: str) -> None:
    with pytest.raises(MalformedResponseError, match=r"not JSON|truncated"):
        parse_json(200, body)


def test_a_success_status_with_an_error_body_is_still_an_error() -> None:
    with pytest.raises(PlanLimitError):
        parse_json(200, example_text("error_401_beyond_365_days.json"))


# --- /simple/price ---------------------------------------------------------------------------
def test_simple_price_example_parses_into_ticks_with_every_field() -> None:
    quotes = parse_simple_price(example("simple_price.json"), COINS)
    assert quotes.rejected == {}
    btc = quotes.ticks["bitcoin"]
    assert (btc.timestamp, btc.price, btc.volume_24h) == (1748865562, 105312.0, 21483917265.41)
    assert btc.market_cap == 2093235231744.0 and btc.change_24h == 1.18734
    assert list(quotes.ticks) == COINS


def test_unknown_ids_are_rejected_as_missing_not_silently_dropped() -> None:
    quotes = parse_simple_price(example("simple_price_unknown_ids.json"), ["no-such", "nor-this"])
    assert quotes.ticks == {}
    assert set(quotes.rejected) == {"no-such", "nor-this"}
    assert all("missing" in reason for reason in quotes.rejected.values())


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("usd", None, "usd is null"),
        ("usd", -5, "must be positive"),
        ("usd", 0, "must be positive"),
        ("usd", "105312", "not a number"),
        ("usd", float("nan"), "not finite"),
        ("usd", float("inf"), "not finite"),
        ("usd_24h_vol", -1.0, "negative"),
        ("usd_market_cap", float("inf"), "not finite"),
        ("usd_24h_change", float("nan"), "not a finite number"),
        ("last_updated_at", None, "last_updated_at"),
        ("last_updated_at", 1748865562000, "not unix seconds"),
    ],
)
def test_a_bad_coin_is_rejected_with_its_reason_and_the_good_coins_are_kept(
    field: str, value: object, reason: str
) -> None:
    body = example("simple_price.json")
    body["solana"][field] = value
    # Through real JSON text: NaN and Infinity are what a broken upstream would send.
    quotes = parse_simple_price(json.loads(json.dumps(body)), COINS)
    assert set(quotes.ticks) == {"bitcoin", "ethereum", "cardano"}
    assert reason in quotes.rejected["solana"]


def test_null_optional_fields_are_unknown_not_rejected() -> None:
    body = example("simple_price.json")
    body["cardano"].update(usd_24h_vol=None, usd_market_cap=None, usd_24h_change=None)
    tick = parse_simple_price(body, ["cardano"]).ticks["cardano"]
    assert (tick.volume_24h, tick.market_cap, tick.change_24h) == (None, None, None)


def test_an_entry_that_is_not_an_object_is_rejected() -> None:
    body = example("simple_price.json")
    body["ethereum"] = [2541.87]
    quotes = parse_simple_price(body, COINS)
    assert "not an object" in quotes.rejected["ethereum"] and len(quotes.ticks) == 3


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_simple_price_answer_of_the_wrong_type_is_malformed(body: object) -> None:
    with pytest.raises(MalformedResponseError):
        parse_simple_price(body, COINS)


# --- /coins/markets --------------------------------------------------------------------------
def test_markets_example_parses_with_event_time_from_last_updated() -> None:
    quotes = parse_markets(example("coins_markets.json"), COINS)
    assert list(quotes.ticks) == COINS and quotes.rejected == {}
    btc = quotes.ticks["bitcoin"]
    assert btc.timestamp == iso_to_epoch("2025-06-02T11:59:22.074Z") == 1748865562
    assert (btc.price, btc.volume_24h, btc.change_24h) == (105312.0, 21483917265.0, 1.18734)


def test_markets_rejects_null_prices_entries_without_id_and_missing_coins() -> None:
    body = example("coins_markets.json")
    body[1]["current_price"] = None
    body[2]["last_updated"] = "yesterday"
    body.append({"symbol": "x"})
    quotes = parse_markets(body, [*COINS, "dogecoin"])
    assert list(quotes.ticks) == ["bitcoin", "cardano"]
    assert "current_price is null" in quotes.rejected["ethereum"]
    assert "not an ISO time" in quotes.rejected["solana"]
    assert "without an id" in quotes.rejected["#4"]
    assert "missing" in quotes.rejected["dogecoin"]


def test_a_markets_answer_that_is_not_a_list_is_malformed() -> None:
    with pytest.raises(MalformedResponseError):
        parse_markets({"bitcoin": {}})


# --- charts ----------------------------------------------------------------------------------
def test_market_chart_points_become_ticks_in_seconds_with_24h_volumes() -> None:
    chart = parse_chart(example("market_chart_1day.json"), "bitcoin")
    series = chart.series
    assert len(series) == 12 and chart.rejected == []
    assert series.timestamp[-1] == 1748865562 and series.price[-1] == 105312.0
    assert series.volume_24h[-1] == 21483917265.41
    assert all(math.isnan(v) for v in series.change_24h)
    ranged = parse_chart(example("market_chart_range.json"), "bitcoin").series
    assert len(ranged) == 10 and list(ranged.timestamp) == sorted(ranged.timestamp)


def test_a_chart_point_with_a_bad_price_is_dropped_and_a_null_cap_is_unknown() -> None:
    body = example("market_chart_range.json")
    body["prices"][3][1] = None
    body["market_caps"][0][1] = None
    chart = parse_chart(body, "bitcoin")
    assert len(chart.series) == 9 and "price is null" in chart.rejected[0]
    assert math.isnan(chart.series.market_cap[0])


@pytest.mark.parametrize(
    "body",
    [[], {"market_caps": []}, {"prices": [[1, 2, 3]]}, {"prices": "x"}, {"prices": [[None, 1]]}],
)
def test_a_chart_of_the_wrong_shape_is_malformed(body: object) -> None:
    with pytest.raises(MalformedResponseError):
        parse_chart(body, "bitcoin")


def test_ohlc_rows_become_candles_at_their_open_time_without_volume() -> None:
    candles, rejected = parse_ohlc(example("ohlc.json"), 1)
    assert rejected == [] and len(candles) == 8
    assert candles.timestamp[0] == 1748853000000 - 30 * 60 * 1000
    assert candles.close[-1] == 105089.0 and math.isnan(candles.volume[0])


def test_an_ohlc_row_that_breaks_low_high_order_is_rejected_the_rest_kept() -> None:
    body = example("ohlc.json")
    body[2] = [body[2][0], 100.0, 90.0, 95.0, 99.0]
    body[5] = [body[5][0], 1.0, 2.0]
    candles, rejected = parse_ohlc(body, 1)
    assert len(candles) == 6 and len(rejected) == 2


def test_ohlc_days_outside_the_allowed_set_are_refused_before_any_call() -> None:
    with pytest.raises(BadInputError, match="one of"):
        parse_ohlc([], 2)
