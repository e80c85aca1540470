"""Training in AWS, on the local stack: history backfilled to the emulator's S3 with the real
command, the training schedule fires the state machine, its Map invokes the (image) training
function in-process per group of coins; a report per coin lands in S3, an artifact only where
the model earned it; the process function serves that artifact from s3:// and every signal of
the coin carries its version.

Its own stacks (emulators): the training writes models the process function then serves, which
the other modules' tests must not see."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_training_job import write_candles

from cryptosignals.aws import TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.local.stack import LocalStack
from cryptosignals.synthetic import predictable_candles

pytestmark = pytest.mark.integration
WEEK = 7 * 86_400


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start() as local:
        yield local


def _keys(stack: LocalStack, prefix: str) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.names["models_bucket"], Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _json(stack: LocalStack, key: str) -> Any:
    body = stack.client("s3").get_object(Bucket=stack.names["models_bucket"], Key=key)["Body"]
    return json.loads(body.read())


def _upload_history(stack: LocalStack, *files: Path) -> None:
    """`cryptosignals upload-history`, the real command, pointed at the emulator."""
    result = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "upload-history",
         "--bucket", stack.names["models_bucket"], "--input", *map(str, files)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **stack.environment()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # one training run of two coins with history (~10 s on a loaded machine)
def test_the_schedule_trains_every_coin_reports_each_and_serves_only_the_model_that_earned_it(
    stack: LocalStack, tmp_path: Path
) -> None:
    # history: bitcoin a generated market with a planted predictable effect, ethereum the
    # bundled (real) sample; solana and cardano, also tracked, have none
    planted = write_candles(
        predictable_candles(days=16, strength=0.3), tmp_path / "bitcoin_5m.csv.gz"
    )
    real = tmp_path / "ethereum_5m.csv.gz"
    shutil.copy(sample_path("ethereum"), real)
    _upload_history(stack, planted, real)
    assert _keys(stack, "history/") == ["history/bitcoin_5m.csv.gz", "history/ethereum_5m.csv.gz"]

    scheduler = stack.training_scheduler(start=1_800_000_000)
    assert scheduler.advance(WEEK - 1) == []  # rate(7 days): nothing before a week
    (execution,) = scheduler.advance(1)
    assert execution.status == "SUCCEEDED", execution.error_message
    (invocation,) = execution.invocations  # 4 tracked coins, 4 a group: one invocation
    assert invocation.function == stack.names["train_function"] and not invocation.failed
    (group,) = execution.result  # the Map's output: one item per group
    run = group["run"]
    assert run == "20270122T080000Z"  # the execution's start on the virtual clock, a week on

    keys = _keys(stack, f"reports/{run}/")
    reports = {Path(k).name.split("_")[0]: _json(stack, k) for k in keys if "_up_1h_" in k}
    assert set(reports) == {"bitcoin", "ethereum", "solana", "cardano"}
    # the weekly run also judges each coin's meta-label filter and refits its volatility
    # forecast: a report each (bitcoin's 16 days and ethereum's 3 weeks are too short for a
    # filter's 28 training days and 7 test days, or a refit's 14 fitting days and 7 judged)
    for job in ("_metalabel", "_volatility"):
        judged = {Path(k).name.split("_")[0]: _json(stack, k) for k in keys if job in k}
        assert set(judged) == set(reports), job
        assert {r["verdict"] for r in judged.values()} == {"not evaluated"}, job
    assert _keys(stack, "served/volatility/") == _keys(stack, "served/metalabel/") == []
    bitcoin = reports["bitcoin"]
    assert bitcoin["earned"] and bitcoin["verdict"] == "beats the base rate"
    assert reports["ethereum"]["verdict"] != "beats the base rate"
    assert not reports["ethereum"]["earned"] and "not served" in reports["ethereum"]["reason"]
    assert {reports[c]["verdict"] for c in ("solana", "cardano")} == {"not evaluated"}
    assert _keys(stack, "served/p_up/") == [bitcoin["artifact_key"]]  # only the one that earned it
    metrics = stack.client("cloudwatch").list_metrics(Namespace="CryptoSignals")["Metrics"]
    assert {"ModelsEarned", "ModelsNotEarned", "CoinsNotEvaluated"} <= {
        m["MetricName"] for m in metrics if {"Name": "service", "Value": "train"} in m["Dimensions"]
    }

    # the process function serves it: the newest artifact under s3://<bucket>/served/p_up/, read
    # once per container, and each signal of the coin records the version it used
    process = stack.runtime.config(stack.names["process_function"])
    assert process.environment["MODELS"] == f"s3://{stack.names['models_bucket']}/served/"
    ticks = candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin")))[2000:2600].ticks()
    TickProducer(AwsSettings(stream_name=stack.names["stream"]),
                 client=stack.client("kinesis")).send(ticks)  # fmt: skip
    for poller in stack.pollers():
        poller.drain()
    signals = [
        s for s in all_items(stack.client("dynamodb"), "scan",
                             TableName=stack.names["signals_table"])
        if s["crypto_id"]["S"] == "bitcoin"
    ]  # fmt: skip
    assert signals, "two days of ticks make signals"
    assert {s["model_version"]["S"] for s in signals} == {bitcoin["model_version"]}
    logs = [line for i in stack.runtime.invocations if i.function == process.name
            for line in i.log_lines if '"P(up) model"' in line]  # fmt: skip
    assert len(logs) == 1 and bitcoin["artifact_key"] in logs[0]  # once per container


@pytest.mark.slow  # its own emulator and a training run
def test_more_coins_fan_out_into_more_groups_and_a_bad_history_file_is_reported() -> None:
    parameters = {"TrackedCoins": "bitcoin,ethereum,solana", "TrainCoinsPerGroup": 2}
    with LocalStack.start(parameters=parameters) as other:
        bucket = other.names["models_bucket"]
        other.client("s3").put_object(Bucket=bucket, Key="history/solana_5m.csv.gz", Body=b"x")
        execution = other.train()
        assert execution.status == "SUCCEEDED", execution.error_message
        assert len(execution.invocations) == 2  # [bitcoin, ethereum], [solana]
        groups = [sorted(g["coins"]) for g in execution.result]
        assert groups == [["bitcoin", "ethereum"], ["solana"]]
        (run,) = {g["run"] for g in execution.result}
        solana = _json(other, f"reports/{run}/solana_up_1h_logistic.json")
        assert solana["verdict"] == "not evaluated" and "history unusable" in solana["reason"]
        assert _keys(other, "served/p_up/") == []
