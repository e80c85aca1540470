"""The Kinesis payload shapes the process function accepts (pure: no emulator).

Whatever a producer puts on the stream, decoding gives valid ticks or a BadInputError with a
reason (the record is dead-lettered); any other exception would crash the whole batch."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cryptosignals.aws.records import KNOWN_COINS, decode_payload
from cryptosignals.errors import BadInputError
from cryptosignals.model import Tick

ARRIVAL = 1_700_000_123.9


def _decode(payload: object) -> list[Tick]:
    return decode_payload(json.dumps(payload).encode(), ARRIVAL, KNOWN_COINS)


def test_the_three_shapes_decode_to_ticks() -> None:
    ours = Tick("bitcoin", 1_700_000_000, 67_000.5, 2.5e10, 1.3e12, -1.2)
    assert _decode(ours.to_json()) == [ours]
    seed_items = [
        {"crypto": "ethereum", "price": 3000, "market_cap": 3.6e11, "24hr_vol": 1e10},
        {"crypto": "SOL", "price": 150.5, "24hr_change": -2.5},
    ]
    eth, sol = _decode(seed_items)
    assert (eth.crypto_id, eth.timestamp, eth.price, eth.market_cap) == (
        "ethereum", 1_700_000_123, 3000.0, 3.6e11,
    )  # fmt: skip
    assert (sol.crypto_id, sol.change_24h, sol.volume_24h) == ("solana", -2.5, None)
    (seed,) = _decode({"crypto": "BTC", "price_usd": 67000.5, "market_cap_usd": 1.3e12})
    assert (seed.crypto_id, seed.price, seed.market_cap) == ("bitcoin", 67000.5, 1.3e12)


@pytest.mark.parametrize("name", ["BTC", "Bitcoin", " bitcoin "])
def test_our_shape_with_a_symbol_or_odd_case_is_the_same_coin(name: str) -> None:
    (tick,) = _decode({"crypto_id": name, "timestamp": 1_700_000_000, "price": 1.0})
    assert tick.crypto_id == "bitcoin"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"crypto_id": "bitcoin", "timestamp": 1_700_000_000, "price": 1, "change_24h": "x"},
         "change_24h"),
        ({"crypto_id": "bitcoin", "timestamp": 1_700_000_000, "price": 1, "change_24h": [1]},
         "change_24h"),
        ({"crypto_id": "bitcoin", "timestamp": "x", "price": 1}, "timestamp"),
        ({"crypto_id": "bitcoin", "timestamp": 1_700_000_000, "price": 1, "volume_24h": -1},
         "volume_24h"),
        ({"crypto_id": "nope", "timestamp": 1_700_000_000, "price": 1}, "unknown coin"),
        ({"crypto": "BTC", "price": 0}, "positive"),
        ({"crypto": "BTC", "price": 1, "24hr_vol": "lots"}, "not a number"),
        ({"crypto": 7, "price": 1}, "coin"),
        ({"price": 1}, "crypto_id"),
        ([], "empty"),
        ("bitcoin", "JSON object"),
    ],
)  # fmt: skip
def test_each_malformed_payload_is_rejected_with_its_reason(payload: object, reason: str) -> None:
    with pytest.raises(BadInputError, match=reason):
        _decode(payload)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
_fields = st.sampled_from(
    ["crypto_id", "crypto", "timestamp", "price", "price_usd", "volume_24h", "market_cap",
     "market_cap_usd", "change_24h", "24hr_vol", "24hr_change"]
)  # fmt: skip
_coins = st.sampled_from(["bitcoin", "BTC", "eth", "nope", ""])


@given(
    st.dictionaries(_fields, _json_values | _coins, max_size=8)
    | st.lists(st.dictionaries(_fields, _json_values | _coins, max_size=8), max_size=3)
    | _json_values
)
def test_any_json_payload_gives_valid_ticks_or_a_reason(payload: object) -> None:
    try:
        ticks = _decode(payload)
    except BadInputError as exc:
        assert str(exc)
        return
    for tick in ticks:
        assert tick.crypto_id in KNOWN_COINS
        assert math.isfinite(tick.price) and tick.price > 0
