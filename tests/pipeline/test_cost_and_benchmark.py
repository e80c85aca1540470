"""`cryptosignals cost` over the measured counts, and the pipeline benchmark end to end (small)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cryptosignals.commands.cost import (
    HOURS_PER_MONTH,
    PRICES,
    load_measured,
    monthly_bill,
    parse_cadence,
)
from cryptosignals.errors import BadInputError

ROOT = Path(__file__).resolve().parents[2]


def _total(coins: int, cadence: float, **options: int) -> float:
    measured = load_measured(cadence)
    return sum(line.cost for line in monthly_bill(coins, cadence, measured, **options))


def test_cadences_parse_to_minutes() -> None:
    assert parse_cadence("1m") == 1 and parse_cadence("5m") == 5
    assert parse_cadence("30s") == 0.5 and parse_cadence("1h") == 60
    with pytest.raises(BadInputError):
        parse_cadence("fast")


def test_the_measured_counts_ship_with_the_package_for_each_cadence() -> None:
    assert load_measured(1.0)["cadence"] == "1m" and load_measured(0.5)["cadence"] == "1m"
    assert load_measured(5.0)["cadence"] == "5m" and load_measured(60)["cadence"] == "5m"
    measured = load_measured()
    per_tick = measured["per_tick"]
    assert set(per_tick["wru_per_tick"]) == {
        "crypto_raw_data", "crypto_aggregated_data", "engine_state", "trading_signals",
    }  # fmt: skip
    assert per_tick["wru_per_tick"]["crypto_raw_data"] == 1.0  # one ~124-byte item per tick
    assert per_tick["kinesis_records_per_tick"] == 1.0
    assert per_tick["process_cpu_ms_per_tick"] > 0


def test_the_bill_follows_the_measured_counts_and_the_price_table() -> None:
    measured = load_measured()
    lines = {(line.service, line.item): line for line in monthly_bill(100, 1.0, measured)}
    ticks = 100 * HOURS_PER_MONTH * 60
    shard = lines[("Kinesis", "shard-hours")]
    assert shard.cost == pytest.approx(HOURS_PER_MONTH * PRICES["kinesis_shard_hour"])
    wru = lines[("DynamoDB", "write request units")]
    # every tick pays its raw item, aggregates and state (one tick per coin per batch)
    assert wru.quantity >= ticks * sum(measured["per_tick"]["wru_per_tick"].values())
    assert wru.cost == pytest.approx(wru.quantity / 1e6 * PRICES["dynamodb_wru_million"])
    # fewer ingest runs cost less; a batching window amortises the per-batch writes
    assert _total(100, 5.0) < _total(100, 1.0)
    assert _total(100, 1.0, ticks_per_batch=5) < _total(100, 1.0)
    assert _total(200, 1.0) > _total(100, 1.0)


def test_the_target_is_reported_honestly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "cost", "--coins", "100", "--cadence", "1m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    total = _total(100, 1.0)
    verdict = "meets" if total <= 15 else "misses"
    assert f"{verdict} it (${total:,.2f})" in result.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "cost", "--cadence", "5m", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    bill = json.loads(as_json.stdout)
    assert bill["total"] == pytest.approx(_total(100, 5.0))
    assert {line["service"] for line in bill["lines"]} >= {
        "Kinesis", "Lambda", "DynamoDB", "EventBridge", "CloudWatch", "Secrets Manager",
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.integration
def test_the_pipeline_benchmark_counts_requests_per_tick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            *(sys.executable, str(ROOT / "benchmarks" / "pipeline.py")),
            *("--warmup", "3", "--runs", "3", "--cold-starts", "0", "--no-models"),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    per_tick = figures["per_tick"]
    assert per_tick["ticks"] == 3 * 4  # three runs of the four sample coins
    assert per_tick["wru_per_tick"]["crypto_raw_data"] == 1.0
    assert per_tick["wru_per_tick"]["crypto_aggregated_data"] == 4.0  # 4 windows, 1 tick/batch
    assert per_tick["dynamodb_read_requests_per_tick"] == 0.25  # one BatchGetItem per batch
    # the batch's raw ticks and aggregates share BatchWriteItem calls: issue 4's <= 2 a tick
    assert per_tick["dynamodb_write_requests_per_tick"] <= 2
    assert per_tick["process_invocations_per_run"] == 1.0
    assert figures["calls_by_function"]["ingest"]["kinesis.PutRecords"] == 3
    assert figures["cold_start"] == {}  # --cold-starts 0: they build the package (pip)
    assert figures["served_models"] == []
    assert "DynamoDB write requests / tick" in result.stdout


@pytest.mark.slow
def test_the_pipeline_benchmark_replays_real_one_minute_ticks(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pipeline.py"), "--cadence", "1m",
         "--warmup", "3", "--runs", "3", "--cold-starts", "0", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["cadence"] == "1m" and figures["period_s"] == 60
    assert figures["per_tick"]["ticks"] == 3 * 2  # bitcoin and ethereum, three minutes
    # every model on: a P(up) model and a meta-label filter a coin, which the stream loaded
    assert sorted(Path(key).parent.name for key in figures["served_models"]) == [
        "metalabel", "metalabel", "p_up", "p_up",
    ]  # fmt: skip
    assert figures["per_tick"]["wru_per_tick"]["crypto_raw_data"] == 1.0
