"""`python -m cryptosignals.local up` (= `cryptosignals local up`) as a user runs it: the seed's
AWS CLI commands against the printed endpoint, the record processed by the running stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from webhook_receiver import Receiver

from aws_cli import aws_cli
from cryptosignals.aws.events import DETAIL_TYPE, SOURCE

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def test_local_up_serves_the_seeds_cli_commands_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cryptosignals.local", "up", "--duration", "90"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("endpoint http://127.0.0.1:"), first
        endpoint = first.split()[1]

        def aws(*args: str) -> dict:
            return aws_cli(endpoint, *args)

        assert "crypto_raw_data" in aws("dynamodb", "list-tables")["TableNames"]
        record = {"crypto": "BTC", "price_usd": 67000.5, "24hr_vol": 1e10, "24hr_change": 1.0}
        aws(
            "kinesis",
            "put-record",
            "--stream-name",
            "lambda-stream",
            "--partition-key",
            "1",
            "--data",
            json.dumps(record),
        )
        query = (
            "dynamodb",
            "query",
            "--table-name",
            "crypto_raw_data",
            "--key-condition-expression",
            "crypto_id = :c",
            "--expression-attribute-values",
            '{":c": {"S": "bitcoin"}}',
        )
        deadline = time.monotonic() + 30  # the mapping's batching window is 5 s
        items: list = []
        while time.monotonic() < deadline and not items:
            items = aws(*query)["Items"]
            time.sleep(0.5)
        assert items and items[0]["price"]["N"] == "67000.5"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)  # a loaded machine compiles numba first
    assert "stopped" in output
    assert process.returncode == 0


def test_local_up_posts_alerts_to_the_webhook_it_is_given() -> None:
    receiver = Receiver().start()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cryptosignals.local",
            "up",
            "--duration",
            "60",
            "--alert-webhook-url",
            receiver.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "ALERT_WEBHOOK_SECRET": "from-the-environment"},
    )
    seen: list[str] = []
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().split()[1]
        detail = {
            "crypto_id": "bitcoin",
            "signal_type": "SELL",
            "rule": "macd_cross",
            "timeframe": "15m",
            "price": 61000.25,
            "confidence_score": 0.8,
            "actionable": True,
        }
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "EventBusName": "trading-signals",
        }
        aws_cli(endpoint, "events", "put-events", "--entries", json.dumps([entry]))
        deadline = time.monotonic() + 20  # the loop polls every 0.25 s
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.2)
        (request,) = receiver.received
        assert request.headers["x-cryptosignals-secret"] == "from-the-environment"
        assert json.loads(request.body)["text"] == (
            "bitcoin SELL macd_cross (15m) at 61000.25 (confidence 0.8)"
        )
        # the relay counts a delivery once the POST has returned: wait for its line (an
        # interrupt sent as soon as the receiver has the request can come before it)
        for line in process.stdout:
            seen.append(line)
            if line.startswith("webhook:"):
                break
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)  # a loaded machine compiles numba first
        receiver.stop()
    output = "".join(seen) + output
    assert "webhook: 1 delivered" in output
    assert "from-the-environment" not in output and receiver.url not in output
