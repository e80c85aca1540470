"""The store's one-pass typed form of an item is boto3's `TypeSerializer` over `to_item`, value
for value: on arbitrary JSON-like items and on the engine's real aggregates, signals and state."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
from boto3.dynamodb.types import Binary, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.aws.dynamo import to_item
from cryptosignals.aws.store import _dump_state, _serialize, raw_item, signal_item
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import Engine
from cryptosignals.errors import BadInputError
from cryptosignals.handlers.process import _aggregate_items


def _generic(item: dict[str, Any]) -> dict[str, Any] | str:
    """The two generic walks the store made before (or the error they raised)."""
    try:
        return {k: TypeSerializer().serialize(v) for k, v in to_item(item).items()}
    except (BadInputError, TypeError, ArithmeticError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _fast(item: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return _serialize(item)
    except (BadInputError, TypeError, ArithmeticError) as exc:
        return f"{type(exc).__name__}: {exc}"


_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-130, 1e-131, -1e-200, 1e125, 0.1, 1 / 3]),
    st.floats(allow_nan=False, allow_infinity=False).map(np.float64),
)
_large_ints = st.one_of(  # DynamoDB's 38 digits, either side of the limit
    st.integers(-(10**40), 10**40),
    st.sampled_from([10**38 - 1, 10**38, -(10**38) + 1, -(10**38), 10**38 + 1]),
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), _floats, _large_ints,
    st.text(max_size=5), st.binary(max_size=5),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.sampled_from([np.int64(7), Binary(b"x")]),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 9)), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _values, max_size=6))
def test_the_one_pass_typed_item_is_the_generic_one(item: dict[str, Any]) -> None:
    expected, got = _generic(item), _fast(item)
    if isinstance(expected, str):  # unstorable: refused too (the first bad value's error)
        assert isinstance(got, str)
    else:
        assert got == expected


def test_the_engines_items_are_typed_as_before() -> None:
    coin = "bitcoin"
    ticks = candles_to_ticks(coin, read_candles(sample_path(coin)))
    engine, items = Engine(coin), []
    for start in range(0, 1500, 300):
        result = engine.feed(ticks[start : start + 300])
        items += _aggregate_items(result, {"beta": 1.2, "alert": None, "mean_corr": math.nan})
        items += [signal_item(s) for s in result.signals]
        items += [{**signal_item(s), "published_at": 1} for s in result.signals]
    assert result.risk is not None and len(items) > 40
    items += [raw_item(t, 30) for t in ticks[:50].ticks()]
    items.append({"crypto_id": coin, "version": 3, "state": _dump_state(engine.state())})
    for item in items:
        assert _fast(item) == _generic(item)
    assert _fast({"n": Decimal("1.50")}) == {"n": {"N": "1.50"}}
