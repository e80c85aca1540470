"""The nouns the whole product speaks: `Tick`, `TickSeries`, `Signal`.

A tick is one price observation of one coin at its own event time (CoinGecko's
`last_updated_at`, or a candle's close time in a replay). Volumes are CoinGecko's 24-hour
volumes as of that moment, never per-interval volumes (see docs/assumptions.md).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError

#: Namespace of deterministic signal ids: the same (coin, rule, timeframe, time) is the same id.
SIGNAL_NAMESPACE = uuid.UUID("6f1c3a52-8f0e-5b7a-9d41-2c6e0f9b7a10")


def _number(
    name: str, value: Any, *, required: bool, positive: bool = False, signed: bool = False
) -> float | None:
    """A finite float (>= 0; > 0 if `positive`; any sign if `signed`), None where allowed, else
    a BadInputError."""
    if value is None:
        if required:
            raise BadInputError(f"missing field {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | np.floating):
        raise BadInputError(f"field {name!r} is not a number: {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadInputError(f"field {name!r} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise BadInputError(f"field {name!r} is not finite: {value!r}")
    if (number < 0 and not signed) or (positive and number == 0):
        raise BadInputError(
            f"field {name!r} must be {'positive' if positive else '>= 0'}: {value!r}"
        )
    return number


@dataclass(frozen=True, slots=True)
class Tick:
    """One price observation: coin, event time (unix seconds), price and 24h figures in USD."""

    crypto_id: str
    timestamp: int
    price: float
    volume_24h: float | None = None
    market_cap: float | None = None
    change_24h: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.crypto_id, str) or not self.crypto_id.strip():
            raise BadInputError(f"crypto_id must be a non-empty string, got {self.crypto_id!r}")
        if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, int | np.integer):
            raise BadInputError(f"timestamp must be integer unix seconds, got {self.timestamp!r}")
        if not 0 < self.timestamp < 10**10:
            raise BadInputError(f"timestamp {self.timestamp} is not unix seconds")
        _number("price", self.price, required=True, positive=True)
        _number("volume_24h", self.volume_24h, required=False)
        _number("market_cap", self.market_cap, required=False)
        if self.change_24h is not None and not math.isfinite(self.change_24h):
            raise BadInputError(f"field 'change_24h' is not finite: {self.change_24h!r}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tick:
        """Parse the project's JSON form; every problem is a BadInputError naming the field."""
        if not isinstance(data, Mapping):
            raise BadInputError(f"a tick must be a JSON object, got {type(data).__name__}")
        timestamp = data.get("timestamp")
        if isinstance(timestamp, float) and timestamp.is_integer():
            timestamp = int(timestamp)
        return cls(
            crypto_id=data.get("crypto_id"),  # type: ignore[arg-type]
            timestamp=timestamp,  # type: ignore[arg-type]
            price=_number("price", data.get("price"), required=True, positive=True),  # type: ignore[arg-type]
            volume_24h=_number("volume_24h", data.get("volume_24h"), required=False),
            market_cap=_number("market_cap", data.get("market_cap"), required=False),
            change_24h=_number("change_24h", data.get("change_24h"), required=False, signed=True),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "crypto_id": self.crypto_id,
            "timestamp": int(self.timestamp),
            "price": self.price,
            "volume_24h": self.volume_24h,
            "market_cap": self.market_cap,
            "change_24h": self.change_24h,
        }


def _optional(values: np.ndarray, i: int) -> float | None:
    value = float(values[i])
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class TickSeries:
    """Ticks of one coin as columns (event time ascending): the engine's batch input.

    Unknown volumes, market caps or changes are NaN here and None in a `Tick`.
    """

    crypto_id: str
    timestamp: np.ndarray  # int64 unix seconds
    price: np.ndarray
    volume_24h: np.ndarray
    market_cap: np.ndarray
    change_24h: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)

    def __getitem__(self, index: slice | np.ndarray) -> TickSeries:
        return TickSeries(
            self.crypto_id,
            self.timestamp[index],
            self.price[index],
            self.volume_24h[index],
            self.market_cap[index],
            self.change_24h[index],
        )

    def ticks(self) -> list[Tick]:
        return [
            Tick(
                self.crypto_id,
                int(self.timestamp[i]),
                float(self.price[i]),
                _optional(self.volume_24h, i),
                _optional(self.market_cap, i),
                _optional(self.change_24h, i),
            )
            for i in range(len(self))
        ]

    @classmethod
    def from_ticks(cls, crypto_id: str, ticks: list[Tick]) -> TickSeries:
        def column(name: str) -> np.ndarray:
            return np.array(
                [np.nan if getattr(t, name) is None else getattr(t, name) for t in ticks], float
            )

        return cls(
            crypto_id,
            np.array([t.timestamp for t in ticks], dtype=np.int64),
            np.array([t.price for t in ticks], dtype=float),
            column("volume_24h"),
            column("market_cap"),
            column("change_24h"),
        )


class SignalType(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    ALERT = "ALERT"


def signal_id(crypto_id: str, rule: str, timeframe: str, timestamp: int) -> str:
    """Deterministic id: redelivering the same tick can never create a second signal."""
    return str(uuid.uuid5(SIGNAL_NAMESPACE, f"{crypto_id}|{rule}|{timeframe}|{int(timestamp)}"))


@dataclass(frozen=True)
class Signal:
    """A trading signal: what fired, when (event time, unix seconds), how sure, and why."""

    crypto_id: str
    timestamp: int
    signal_type: SignalType
    rule: str
    timeframe: str
    price: float
    confidence_score: float  # the calibrated probability that the claim holds (docs/signals.md)
    details: dict[str, float] = field(default_factory=dict)
    evaluation_horizon: str | None = None  # when the claim is judged, e.g. "1h"
    evidence: dict[str, float] = field(default_factory=dict)  # the rule's track record then
    actionable: bool = False  # the evidence clears the bar for alerting a person
    model_version: str | None = None  # the P(up) model behind details["p_up"], if one is deployed

    @property
    def signal_id(self) -> str:
        return signal_id(self.crypto_id, self.rule, self.timeframe, self.timestamp)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (key order fixed) for jsonl output, EventBridge details and storage."""
        return {
            "signal_id": self.signal_id,
            "crypto_id": self.crypto_id,
            "timestamp": int(self.timestamp),
            "signal_type": str(self.signal_type),
            "rule": self.rule,
            "timeframe": self.timeframe,
            "price": self.price,
            "confidence_score": self.confidence_score,
            "details": dict(self.details),
            "evaluation_horizon": self.evaluation_horizon,
            "evidence": dict(self.evidence),
            "actionable": bool(self.actionable),
            **({} if self.model_version is None else {"model_version": self.model_version}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signal:
        return cls(
            crypto_id=data["crypto_id"],
            timestamp=int(data["timestamp"]),
            signal_type=SignalType(data["signal_type"]),
            rule=data["rule"],
            timeframe=data["timeframe"],
            price=float(data["price"]),
            confidence_score=float(data["confidence_score"]),
            details={k: float(v) for k, v in (data.get("details") or {}).items()},
            evaluation_horizon=data.get("evaluation_horizon"),
            evidence={k: float(v) for k, v in (data.get("evidence") or {}).items()},
            actionable=bool(data.get("actionable", False)),
            model_version=data.get("model_version"),
        )
