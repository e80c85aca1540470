"""The local stack: emulator + shims, deployment of template.yaml, scheduler, invocation,
EMF forwarding, and the seed's AWS CLI commands against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aws_probe_handlers
import pytest
import requests
from aws_probe_handlers import create_probe_function

from aws_cli import aws_cli
from cryptosignals.errors import PermanentError
from cryptosignals.local import shims
from cryptosignals.local.emulator import Emulator
from cryptosignals.local.runtime import Scheduler, emf_to_metric_data, rate_seconds
from cryptosignals.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_every_logical_id_of_the_translated_template_exists_on_the_emulator(
    local_stack: LocalStack,
) -> None:
    """With the default parameters; the alert resources behind conditions are checked with them
    set in test_alerts.py."""
    resources = local_stack.stack.translated["Resources"]
    expected = {name for name, resource in resources.items() if "Condition" not in resource}
    assert len(expected) >= 28
    missing = expected - set(local_stack.stack.resources)
    assert not missing, f"created silently without: {sorted(missing)}"
    assert not (set(resources) - expected) & set(local_stack.stack.resources)  # conditions hold
    shimmed = {t for t in local_stack.stack.resource_types.values() if t in shims.SHIMMED_TYPES}
    unconditional = {resources[name]["Type"] for name in expected}
    assert shimmed == set(shims.SHIMMED_TYPES) & unconditional


def test_deployed_resources_are_real_and_named_as_the_seed_does(local_stack: LocalStack) -> None:
    names = local_stack.names
    tables = local_stack.client("dynamodb").list_tables()["TableNames"]
    assert {"crypto_raw_data", "crypto_aggregated_data", "trading_signals", "engine_state"} <= set(
        tables
    )
    stream = local_stack.client("kinesis").describe_stream_summary(StreamName="lambda-stream")
    assert stream["StreamDescriptionSummary"]["OpenShardCount"] == 1
    alarms = local_stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} >= {"IteratorAge", "Errors", "IngestFailures"}
    secret = local_stack.client("secretsmanager").describe_secret(
        SecretId=names["coingecko_secret_arn"]
    )
    assert secret["ARN"] == names["coingecko_secret_arn"]
    env = local_stack.runtime.config(names["ingest_function"]).environment
    assert env["COINGECKO_API_KEY_SECRET"] == names["coingecko_secret_arn"]
    assert env["SIGNALS_BUS"] == "trading-signals"
    (mapping,) = local_stack.client("lambda").list_event_source_mappings(
        FunctionName=names["process_function"]
    )["EventSourceMappings"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        names["process_failure_queue_url"].rsplit("/", 1)[-1]
    )


def test_shims_are_in_force_and_a_missing_one_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import moto
    from moto.kinesis.models import Shard

    assert moto.__version__ == shims.MOTO_VERSION
    shims.apply()
    shims.verify()
    monkeypatch.setattr(Shard, "get_max_sequence_number", lambda self: 0)
    with pytest.raises(shims.ShimError, match="O\\(1\\)"):
        shims.verify()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (Linux: /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_emulator_listens_on_loopback_only_and_stops_at_teardown() -> None:
    emulator = Emulator.start()
    try:
        assert requests.get(f"{emulator.endpoint}/moto-api/data.json", timeout=5).ok
        assert _listening_addresses(emulator.port) == {"0100007F"}  # 127.0.0.1, nothing else
        command = " ".join(emulator.process.args)  # type: ignore[arg-type]
        assert "--parent-pid" in command
        with pytest.raises(PermanentError, match="exited"):  # its port taken: never attaches
            Emulator.start(port=emulator.port)
    finally:
        emulator.stop()
    assert emulator.process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.endpoint}/moto-api/data.json", timeout=2)


def test_rate_expressions() -> None:
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    with pytest.raises(Exception, match="only rate"):
        rate_seconds("cron(0 12 * * ? *)")


def test_scheduler_reads_the_deployed_ingest_rule(local_stack: LocalStack) -> None:
    scheduler = local_stack.scheduler(start=1_700_000_000)
    (target,) = scheduler.targets
    assert target.function == local_stack.names["ingest_function"]
    assert target.period == 300
    assert target.next_fire == 1_700_000_300


def test_scheduler_fires_targets_in_time_order_without_sleeping(local_stack: LocalStack) -> None:
    function = create_probe_function(local_stack, "aws_probe_handlers.scheduled", {"PROBE": "yes"})
    events = local_stack.client("events")
    rule = f"{function}-every-2-minutes"
    events.put_rule(Name=rule, ScheduleExpression="rate(2 minutes)", State="ENABLED")
    arn = local_stack.runtime.config(function).arn
    events.put_targets(Rule=rule, Targets=[{"Id": "probe", "Arn": arn}])
    aws_probe_handlers.CALLS.clear()

    scheduler = Scheduler(local_stack.runtime, start=1_700_000_000, functions=[function])
    assert scheduler.advance(119) == []
    fired = scheduler.advance(300)
    assert [f.failed for f in fired] == [False, False, False]
    times = [call["event"]["time"] for call in aws_probe_handlers.CALLS]
    assert times == ["2023-11-14T22:15:20Z", "2023-11-14T22:17:20Z", "2023-11-14T22:19:20Z"]
    call = aws_probe_handlers.CALLS[0]
    assert call["event"]["detail-type"] == "Scheduled Event"
    assert call["event"]["resources"][0].endswith(f"rule/{rule}")
    assert call["probe"] == "yes" and call["endpoint"] == local_stack.endpoint
    assert "PROBE" not in os.environ  # the function's environment is restored afterwards


def test_emf_lines_become_metrics_and_output_becomes_logs(local_stack: LocalStack) -> None:
    function = create_probe_function(local_stack, "aws_probe_handlers.scheduled")
    invocation = local_stack.runtime.invoke(function, {})
    assert not invocation.failed and invocation.result == {"ok": True}
    stats = local_stack.client("cloudwatch").get_metric_statistics(
        Namespace="CryptoSignalsProbe",
        MetricName="ProbeRuns",
        Dimensions=[{"Name": "service", "Value": "probe"}],
        StartTime=1_699_999_000,
        EndTime=1_700_001_000,
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 1
    logs = local_stack.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{function}")
    assert any("ProbeRuns" in e["message"] for e in logs["events"])
    errors = local_stack.client("cloudwatch").list_metrics(
        Namespace="AWS/Lambda", MetricName="Invocations"
    )
    assert any(m["Dimensions"][0]["Value"] == function for m in errors["Metrics"])


def test_a_crashing_handler_is_a_failed_invocation_not_a_test_crash(
    local_stack: LocalStack,
) -> None:
    function = create_probe_function(local_stack, "aws_probe_handlers.no_such_handler")
    invocation = local_stack.runtime.invoke(function, {})
    assert invocation.failed and invocation.error_type == "PermanentError"
    assert "has no 'no_such_handler'" in invocation.error_message


def test_emf_parser_ignores_plain_log_lines() -> None:
    assert emf_to_metric_data('{"level": "INFO", "message": "hi"}') is None
    assert emf_to_metric_data("not json") is None


# ------------------------------------------------------------------------------ the AWS CLI
def test_the_seeds_cli_commands_work_against_the_stack(local_stack: LocalStack) -> None:
    tables = aws_cli(local_stack.endpoint, "dynamodb", "list-tables")["TableNames"]
    assert {"crypto_raw_data", "crypto_aggregated_data", "trading_signals"} <= set(tables)
    stream = aws_cli(
        local_stack.endpoint, "kinesis", "describe-stream", "--stream-name", "lambda-stream"
    )
    assert stream["StreamDescription"]["StreamStatus"] == "ACTIVE"
    record = {
        "crypto": "BTC",
        "price_usd": 67000.5,
        "market_cap_usd": 1.3e12,
        "24hr_vol": 2.5e10,
        "24hr_change": 1.2,
    }
    put = aws_cli(
        local_stack.endpoint,
        "kinesis",
        "put-record",
        "--stream-name",
        "lambda-stream",
        "--partition-key",
        "bitcoin",
        "--data",
        json.dumps(record),
    )
    kinesis = local_stack.client("kinesis")
    iterator = kinesis.get_shard_iterator(
        StreamName="lambda-stream",
        ShardId=put["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=put["SequenceNumber"],
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert json.loads(first["Data"]) == record  # CLI v1 sends --data as the raw bytes
    item = aws_cli(
        local_stack.endpoint,
        "dynamodb",
        "query",
        "--table-name",
        "crypto_raw_data",
        "--key-condition-expression",
        "crypto_id = :c",
        "--expression-attribute-values",
        '{":c": {"S": "no-such-coin"}}',
    )
    assert item["Count"] == 0


def test_the_emulator_exits_by_itself_when_its_parent_dies() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from cryptosignals.local.emulator import Emulator; "
            "e = Emulator.start(); print(e.process.pid, e.port, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pid, port = map(int, parent.stdout.readline().split())
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():  # a zombie is gone
                break
        except FileNotFoundError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, 9)
        pytest.fail("the emulator outlived its parent")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=2)
