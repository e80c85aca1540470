"""Signals onto the EventBridge bus: one event per signal, resending only failed entries.

Event: source `cryptosignals.engine`, detail-type `TradingSignal`, detail = `Signal.to_json()`
(signal_id included, so consumers can drop the rare duplicate: delivery is at least once).
A coin whose volatility forecast drifted (the engine's drift monitor, question 27) gets one
event of detail-type `VolatilityDrift`, detail {"crypto_id", "alarms", "last_alarm"}: the
template's drift rule starts a retrain of that coin on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.aws.config import AwsAdapter
from cryptosignals.aws.errors import classify
from cryptosignals.model import Signal

SOURCE = "cryptosignals.engine"
DETAIL_TYPE = "TradingSignal"
DRIFT_DETAIL_TYPE = "VolatilityDrift"
_MAX_ENTRIES = 10


class SignalPublisher(AwsAdapter):
    """Publishes signals; raises RetryableError if some entries keep failing."""

    service = "events"

    def entry(self, detail: dict[str, Any], detail_type: str = DETAIL_TYPE) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.settings.signals_bus,
            "Resources": [],
        }

    def publish(self, signals: Iterable[Signal]) -> int:
        """Put one event per signal (10 per call); return how many were published."""
        return self._put([self.entry(s.to_json()) for s in signals])

    def publish_drift(self, coin: str, alarms: int, last_alarm: int | None) -> None:
        """Say that the coin's volatility forecast drifted (`alarms` in this batch)."""
        detail = {"crypto_id": coin, "alarms": alarms, "last_alarm": last_alarm}
        self._put([self.entry(detail, DRIFT_DETAIL_TYPE)])

    def _put(self, entries: list[dict[str, Any]]) -> int:
        what = f"PutEvents {self.settings.signals_bus}"

        def put(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            try:
                response = self.client.put_events(Entries=pending)
            except (ClientError, BotoCoreError) as exc:
                raise classify(exc, what) from exc
            results = response.get("Entries", [])
            return [e for e, r in zip(pending, results, strict=True) if r.get("ErrorCode")]

        for start in range(0, len(entries), _MAX_ENTRIES):
            self._until_accepted(put, entries[start : start + _MAX_ENTRIES], what)
        return len(entries)
