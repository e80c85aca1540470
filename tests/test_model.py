"""Ticks validate their fields; signal ids are deterministic."""

from __future__ import annotations

import math

import pytest

from cryptosignals.errors import BadInputError
from cryptosignals.model import Signal, SignalType, Tick, signal_id

GOOD = {"crypto_id": "bitcoin", "timestamp": 1_750_000_000, "price": 100_000.5,
        "volume_24h": 3.2e10, "market_cap": 2e12, "change_24h": -1.5}  # fmt: skip


def test_a_good_tick_round_trips_through_json() -> None:
    tick = Tick.from_json(GOOD)
    assert tick.to_json() == GOOD
    assert Tick.from_json({**GOOD, "volume_24h": None}).volume_24h is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": None}, "missing field 'price'"),
        ({"price": "abc"}, "not a number"),
        ({"price": math.nan}, "not finite"),
        ({"price": -1}, "must be positive"),
        ({"price": 0}, "must be positive"),
        ({"price": True}, "not a number"),
        ({"volume_24h": -5}, "must be >= 0"),
        ({"timestamp": 1_750_000_000_000}, "is not unix seconds"),
        ({"timestamp": "soon"}, "integer unix seconds"),
        ({"crypto_id": ""}, "non-empty string"),
    ],
)
def test_bad_ticks_are_rejected_with_the_field_named(change: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        Tick.from_json({**GOOD, **change})


def test_signal_ids_depend_only_on_coin_rule_timeframe_and_time() -> None:
    a = Signal("bitcoin", 100, SignalType.BUY, "ma_crossover", "5m", 1.0, 0.5, {"x": 1.0})
    b = Signal("bitcoin", 100, SignalType.BUY, "ma_crossover", "5m", 2.0, 0.9, {})
    assert a.signal_id == b.signal_id == signal_id("bitcoin", "ma_crossover", "5m", 100)
    assert a.signal_id != signal_id("bitcoin", "ma_crossover", "1h", 100)
    assert Signal.from_json(a.to_json()) == a
