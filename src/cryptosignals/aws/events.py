"""Signals onto the EventBridge bus: one event per signal, resending only failed entries.

Event: source `cryptosignals.engine`, detail-type `TradingSignal`, detail = `Signal.to_json()`
(signal_id included, so consumers can drop the rare duplicate: delivery is at least once).
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
_MAX_ENTRIES = 10


class SignalPublisher(AwsAdapter):
    """Publishes signals; raises RetryableError if some entries keep failing."""

    service = "events"

    def entry(self, signal: Signal) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(signal.to_json(), separators=(",", ":")),
            "EventBusName": self.settings.signals_bus,
            "Resources": [],
        }

    def publish(self, signals: Iterable[Signal]) -> int:
        """Put one event per signal (10 per call); return how many were published."""
        entries = [self.entry(s) for s in signals]
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
