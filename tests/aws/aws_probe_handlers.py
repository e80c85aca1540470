"""Tiny Lambda handlers for the runtime's tests, invoked by dotted path like real ones.

Records are JSON `{"n": int, "mode": "ok" | "poison" | "crash" | "badreport"}`: a poison record
is reported in batchItemFailures, a crash record makes the whole invocation raise, a badreport
record makes it report a sequence number that is not in the batch. Every call is recorded
in CALLS (the runtime invokes in-process, so the test reads it directly). The runtime runs each
function from its own copy of this module, so CALLS lives in a module they all share.
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
import zipfile
from typing import Any

from aws_probe_calls import CALLS

from cryptosignals.local.stack import LocalStack

__all__ = ["CALLS", "create_probe_function", "kinesis", "scheduled"]


def kinesis(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event["Records"]
    decoded = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in records]
    CALLS.append(
        {
            "n": [d["n"] for d in decoded],
            "seqs": [r["kinesis"]["sequenceNumber"] for r in records],
            "function": context.function_name,
        }
    )
    if any(d.get("mode") == "crash" for d in decoded):
        raise RuntimeError("crash record in batch")
    if any(d.get("mode") == "badreport" for d in decoded):
        return {"batchItemFailures": [{"itemIdentifier": "no-such-sequence-number"}]}
    failures = [
        {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
        for r, d in zip(records, decoded, strict=True)
        if d.get("mode") == "poison"
    ]
    return {"batchItemFailures": failures}


def scheduled(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(
        {
            "event": event,
            "function": context.function_name,
            "probe": os.environ.get("PROBE"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        }
    )
    print(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": 1_700_000_000_000,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "CryptoSignalsProbe",
                            "Dimensions": [["service"]],
                            "Metrics": [{"Name": "ProbeRuns", "Unit": "Count"}],
                        }
                    ],
                },
                "service": "probe",
                "ProbeRuns": [1.0],
            }
        )
    )
    return {"ok": True}


def create_probe_function(
    stack: LocalStack, handler: str, env: dict[str, str] | None = None
) -> str:
    """A function on the emulator whose handler is one of aws_probe_handlers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("aws_probe_handlers.py", "# runs in-process from tests/aws\n")
    role = stack.client("iam").get_role(RoleName=stack.stack.resources["ProcessRole"])["Role"]
    name = f"probe-{uuid.uuid4().hex[:8]}"
    stack.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler=handler,
        Code={"ZipFile": buffer.getvalue()},
        Environment={"Variables": env or {}},
    )
    return name
