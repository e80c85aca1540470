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
from cryptosignals.errors import RetryableError
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
        for start in range(0, len(entries), _MAX_ENTRIES):
            pending = entries[start : start + _MAX_ENTRIES]
            for attempt in range(self._max_attempts):
                try:
                    response = self.client.put_events(Entries=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise classify(exc, f"PutEvents {self.settings.signals_bus}") from exc
                results = response.get("Entries", [])
                pending = [e for e, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
                if not pending:
                    break
                self._sleep(min(2.0, 0.1 * 2**attempt))
            else:
                raise RetryableError(f"PutEvents: {len(pending)} entries still failing")
        return len(entries)
