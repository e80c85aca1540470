"""Ticks onto the Kinesis stream: PutRecords, partition key = coin id, resend only failures.

Order per coin matters (the engine rejects a tick older than the last one it saw), and a resent
record lands after the records that succeeded with it. So one PutRecords call carries at most
one tick per coin: the k-th ticks of every coin go in round k, and round k+1 starts only when
round k is fully on the stream. A live ingest run (one tick per coin) is a single call.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.aws.config import AwsAdapter
from cryptosignals.aws.errors import classify
from cryptosignals.errors import RetryableError
from cryptosignals.model import Tick

_MAX_RECORDS = 500
_MAX_BYTES = 5 * 1024 * 1024


def encode_tick(tick: Tick) -> bytes:
    """The record payload: the tick's JSON form (what the process function decodes)."""
    return json.dumps(tick.to_json(), separators=(",", ":"), allow_nan=False).encode()


@dataclass
class SendReport:
    """How a send went: records on the stream, PutRecords calls, records resent."""

    sent: int = 0
    calls: int = 0
    resent: int = 0


class TickProducer(AwsAdapter):
    """Puts ticks on the stream; raises RetryableError if some stay failed after retries."""

    service = "kinesis"

    @staticmethod
    def rounds(ticks: Iterable[Tick]) -> list[list[Tick]]:
        """Round k = the k-th tick (event-time order) of every coin."""
        by_coin: dict[str, list[Tick]] = defaultdict(list)
        for tick in ticks:
            by_coin[tick.crypto_id].append(tick)
        for coin_ticks in by_coin.values():
            coin_ticks.sort(key=lambda t: t.timestamp)
        depth = max((len(v) for v in by_coin.values()), default=0)
        return [[v[k] for v in by_coin.values() if k < len(v)] for k in range(depth)]

    def send(self, ticks: Iterable[Tick]) -> SendReport:
        report = SendReport()
        for round_ in self.rounds(ticks):
            entries = [{"Data": encode_tick(t), "PartitionKey": t.crypto_id} for t in round_]
            for chunk in _chunks(entries):
                self._put(chunk, report)
        return report

    def _put(self, entries: list[dict[str, Any]], report: SendReport) -> None:
        what = f"PutRecords {self.settings.stream_name}"

        def put(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            try:
                response = self.client.put_records(
                    StreamName=self.settings.stream_name, Records=pending
                )
            except (ClientError, BotoCoreError) as exc:
                error = classify(exc, what)
                if not isinstance(error, RetryableError):
                    raise error from exc
                return pending  # throttled as a whole: all of it again
            report.calls += 1
            results = response.get("Records", [])
            failed = [e for e, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            report.sent += len(pending) - len(failed)
            report.resent += len(failed)
            return failed

        self._until_accepted(put, entries, what)


def _chunks(entries: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["Data"]) + len(entry["PartitionKey"])
        if chunk and (len(chunk) == _MAX_RECORDS or size + entry_size > _MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk
