"""DynamoDB number conversions: floats in, Decimals stored, floats out.

boto3 refuses floats and NaN; JSON-ish values from the core go through `to_item` first.
Decimals come from `repr(float)` so a float survives the round trip exactly, except below
DynamoDB's smallest magnitude (1e-130: a regime probability of 1e-200, say), which is stored as
0 rather than failing the whole write.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from cryptosignals.errors import BadInputError

_SMALLEST = 1e-130  # DynamoDB numbers: magnitudes from 1e-130 to under 1e126


def to_dynamo(value: Any) -> Any:
    """A JSON-like value with floats -> the same with Decimals; None/NaN fields are dropped."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes | Decimal):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInputError(f"DynamoDB cannot store {value!r}")
        return Decimal(repr(value)) if abs(value) >= _SMALLEST else Decimal(0)
    if isinstance(value, Mapping):
        return {
            str(k): to_dynamo(v)
            for k, v in value.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return to_dynamo(value.item())
    raise BadInputError(f"DynamoDB cannot store a {type(value).__name__}")


def from_dynamo(value: Any) -> Any:
    """The reverse: integral Decimals -> int, others -> float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def to_item(value: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping ready for the boto3 resource/Table layer."""
    return to_dynamo(value)  # type: ignore[no-any-return]


def all_items(client: Any, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Every item (DynamoDB's typed form) of a `query` or `scan`, page after page."""
    for page in client.get_paginator(operation).paginate(**request):
        yield from page.get("Items", [])
