"""The alert feed stays quiet on noise: every firing is stored with its evidence, only the
actionable ones reach the bus (and so the alert queue), and a coin's first engine starts from
the track records deployed with the stack (`cryptosignals evidence` -> EVIDENCE_HISTORY).

Own stack (own emulator): it drives bitcoin's engine state from a planted market."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from cryptosignals.aws import TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items, from_dynamo
from cryptosignals.candles import Candles, candles_to_ticks
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal
from cryptosignals.synthetic import overreacting_candles

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORY_DAYS = 10


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start() as local:
        yield local


def _write(candles: Candles, path: Path) -> Path:
    with gzip.open(path, "wt") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        columns = ("timestamp", "open", "high", "low", "close", "volume")
        for row in zip(*(getattr(candles, c) for c in columns), strict=True):
            f.write(",".join(repr(v.item()) for v in row) + "\n")
    return path


def _messages(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs, found = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        found += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def test_only_actionable_signals_reach_the_bus_after_a_warm_start(
    stack: LocalStack, tmp_path: Path
) -> None:
    market = overreacting_candles(days=HISTORY_DAYS + 4)
    split = HISTORY_DAYS * 288
    history_file = _write(market[:split], tmp_path / "bitcoin_5m.csv.gz")
    out = tmp_path / "history.json"
    built = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "evidence", "--input", str(history_file),
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    stack.set_function_environment(stack.names["process_function"], {"EVIDENCE_HISTORY": str(out)})

    ticks = candles_to_ticks("bitcoin", market)[split:]
    TickProducer(AwsSettings(stream_name="lambda-stream"), client=stack.client("kinesis")).send(
        ticks.ticks()
    )
    (poller,) = stack.pollers()
    report = poller.drain()
    assert report.batches_ok == report.invocations

    items = all_items(stack.client("dynamodb"), "scan", TableName=stack.names["signals_table"])
    stored = [Signal.from_json({k: _plain(v) for k, v in i.items()}) for i in items]
    assert len(stored) > 100 and all(s.evaluation_horizon == "1h" for s in stored)
    assert all(s.evidence["warm_start"] == 1 for s in stored)  # started from the history
    actionable = {s.signal_id for s in stored if s.actionable}
    assert actionable and len(actionable) < len(stored) / 2
    alerts = _messages(stack, stack.names["alert_queue_url"])
    assert {a["detail"]["signal_id"] for a in alerts} == actionable
    assert all(a["detail"]["evidence"]["n"] >= 30 for a in alerts)


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON."""
    return from_dynamo(TypeDeserializer().deserialize(value))
