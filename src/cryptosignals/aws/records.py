"""Kinesis record payloads the process function accepts, decoded into ticks.

Three shapes (all JSON, UTF-8):

1. ours (what `TickProducer` sends): `{"crypto_id", "timestamp", "price", "volume_24h",
   "market_cap", "change_24h"}` -- `Tick.to_json()`;
2. the seed producer's list items `{"crypto", "price", "market_cap", "24hr_vol",
   "24hr_change"}`, one object or a JSON list of them in a record;
3. the seed's test record `{"crypto": "BTC", "price_usd", "market_cap_usd", "24hr_vol",
   "24hr_change"}`.

`crypto` may be a symbol (BTC) or a CoinGecko id (bitcoin); symbols map through SYMBOLS. The
seed shapes carry no time, so their event time is the record's Kinesis arrival time (whole
seconds). Anything else -- bad base64, not JSON, missing/non-numeric/NaN/negative price, an
unknown coin -- raises BadInputError with the reason, and the record is dead-lettered.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Collection, Mapping
from typing import Any

from cryptosignals.candles import CIRCULATING_SUPPLY
from cryptosignals.errors import BadInputError
from cryptosignals.model import Tick

#: Ticker symbol -> CoinGecko id, for the seed's record shapes.
SYMBOLS: dict[str, str] = {
    "BTC": "bitcoin",
    "ETH": "ethereum",
    "SOL": "solana",
    "ADA": "cardano",
    "XRP": "ripple",
    "DOGE": "dogecoin",
    "AVAX": "avalanche-2",
    "LINK": "chainlink",
    "DOT": "polkadot",
    "LTC": "litecoin",
    "BNB": "binancecoin",
}

#: Coin ids accepted without being tracked: every id the project knows.
KNOWN_COINS = frozenset(SYMBOLS.values()) | frozenset(CIRCULATING_SUPPLY)


def coin_id(name: Any, known: Collection[str]) -> str:
    """A symbol or id -> a known CoinGecko id, else BadInputError."""
    if not isinstance(name, str) or not name.strip():
        raise BadInputError(f"coin must be a non-empty string, got {name!r}")
    text = name.strip()
    coin = SYMBOLS.get(text.upper(), text.lower())
    if coin not in known:
        raise BadInputError(f"unknown coin {name!r}")
    return coin


def _price(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInputError(f"{field} is missing or not a number: {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadInputError(f"{field} is not a number: {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise BadInputError(f"{field} must be a positive finite number, got {value!r}")
    return number


def _optional(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise BadInputError(f"not finite: {value!r}")
    return number


def _seed_tick(item: Mapping[str, Any], arrival: float, known: Collection[str]) -> Tick:
    coin = coin_id(item.get("crypto"), known)
    price_field = "price_usd" if "price_usd" in item else "price"
    return Tick(
        crypto_id=coin,
        timestamp=int(arrival),
        price=_price(item.get(price_field), price_field),
        volume_24h=_optional(item.get("24hr_vol")),
        market_cap=_optional(item.get("market_cap_usd", item.get("market_cap"))),
        change_24h=_optional(item.get("24hr_change")),
    )


def _one(item: Any, arrival: float, known: Collection[str]) -> Tick:
    if not isinstance(item, Mapping):
        raise BadInputError(f"a record must hold a JSON object, got {type(item).__name__}")
    if "crypto_id" in item:
        _price(item.get("price"), "price")
        return Tick.from_json({**item, "crypto_id": coin_id(item["crypto_id"], known)})
    if "crypto" in item:
        return _seed_tick(item, arrival, known)
    raise BadInputError("a record needs crypto_id (ours) or crypto (the seed's shapes)")


def decode_payload(data: bytes, arrival: float, known: Collection[str]) -> list[Tick]:
    """The ticks in one record's bytes (already base64-decoded)."""
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"not JSON: {exc}") from None
    items = document if isinstance(document, list) else [document]
    if not items:
        raise BadInputError("an empty list holds no tick")
    return [_one(item, arrival, known) for item in items]


def decode_record(record: Mapping[str, Any], known: Collection[str]) -> list[Tick]:
    """The ticks of one Lambda Kinesis event record."""
    kinesis = record.get("kinesis", {})
    try:
        data = base64.b64decode(kinesis.get("data", ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInputError(f"bad base64: {exc}") from None
    return decode_payload(data, float(kinesis.get("approximateArrivalTimestamp", 0)), known)


def _reject_constant(name: str) -> Any:
    raise BadInputError(f"{name} is not a number")
