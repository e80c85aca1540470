"""`cryptosignals cost`: the monthly AWS bill of the deployed pipeline, from measured counts.

The counts per tick (DynamoDB write/read units by table, EventBridge events, Kinesis records,
the process handler's CPU per tick, log bytes per invocation) come from benchmarks/pipeline.py,
which stores them per measured cadence (5 minutes on the bundled sample, 1 minute on real
1-minute ticks: the engine state grows with the tick rate) in `data/pipeline_measured.json`;
a bill uses the measurement of the nearest measured cadence; the prices are PRICES below (us-east-1,
on-demand list prices, dated). docs/cost.md explains the model and its assumptions.

Per-tick work: one raw item, the signals the tick fires (two writes each, plus the GSI), its
share of the events. Per-batch work, per coin: the engine state (read once, written once) and
the four aggregate windows. A live deployment delivers one tick per coin per batch (the 5 s
batching window is far shorter than the cadence); `--ticks-per-batch K` models a batching
window of K cadences (which also needs ProcessBatchSize >= coins x K).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any

import typer
from rich.table import Table

from cryptosignals.commands.analyze import console
from cryptosignals.errors import BadInputError

HOURS_PER_MONTH = 730
#: us-east-1, on-demand list prices (USD) as published by AWS in 2025: DynamoDB on-demand
#: after the 2024-11-01 price cut; Lambda x86; CloudWatch standard tier. Not re-read online from
#: this machine: check https://aws.amazon.com/pricing before relying on a total.
PRICES_AS_OF = "2025 (DynamoDB on-demand: the price of 2024-11-01)"
PRICES: dict[str, float] = {
    "kinesis_shard_hour": 0.015,
    "kinesis_put_payload_unit_million": 0.014,  # 25 KB units
    "lambda_request_million": 0.20,
    "lambda_gb_second": 0.0000166667,
    "dynamodb_wru_million": 0.625,
    "dynamodb_rru_million": 0.125,
    "dynamodb_storage_gb_month": 0.25,
    "dynamodb_pitr_gb_month": 0.20,
    "eventbridge_custom_event_million": 1.00,
    "cloudwatch_logs_ingest_gb": 0.50,
    "cloudwatch_logs_storage_gb_month": 0.03,
    "cloudwatch_metric_month": 0.30,
    "cloudwatch_alarm_month": 0.10,
    "cloudwatch_dashboard_month": 3.00,
    "secrets_manager_secret_month": 0.40,
    "secrets_manager_10k_calls": 0.05,
    "kms_10k_requests": 0.03,
}
#: What the template deploys (template.yaml): memory of both functions, custom metrics (EMF,
#: dimension `service` only), alarms, dashboards, secrets, raw-data TTL, log retention.
MEMORY_MB = 256
CUSTOM_METRICS = 11  # ingest 5 + process 6 (docs/aws.md)
ALARMS = 5
DASHBOARDS = 1
SECRETS = 1
RAW_TTL_DAYS = 30
LOG_RETENTION_DAYS = 14
#: Assumptions (docs/cost.md): Lambda gives a full vCPU at 1,769 MB, so CPU time stretches by
#: 1769/MEMORY_MB; one AWS call from Lambda takes about AWS_CALL_MS of wall time; an ingest run
#: (one CoinGecko call, the cursor read and write, one PutRecords) about INGEST_MS; Lambda adds
#: START/END/REPORT lines to every invocation's log; DynamoDB adds ~100 bytes a stored item.
FULL_VCPU_MB = 1769
AWS_CALL_MS = 10.0
INGEST_MS = 1000.0
PLATFORM_LOG_BYTES = 300
ITEM_OVERHEAD_BYTES = 100
#: Ingest cursor item: bytes per tracked coin (`"coin-id":1742860800,`).
CURSOR_BYTES_PER_COIN = 24
TARGET = (100, 1.0, 15.0)  # coins, cadence minutes, USD a month (issue 4)


def load_measured(cadence_min: float = 1.0) -> dict[str, Any]:
    """The benchmark's figures at the measured cadence nearest (by ratio) to the one asked."""
    text = (resources.files("cryptosignals") / "data" / "pipeline_measured.json").read_text()
    cadences: dict[str, Any] = json.loads(text)["cadences"]
    nearest = min(cadences, key=lambda c: abs(math.log(parse_cadence(c) / cadence_min)))
    return cadences[nearest]  # type: ignore[no-any-return]


def parse_cadence(text: str) -> float:
    """`1m`, `5m`, `30s`, `1h` -> minutes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", text)
    if not match:
        raise BadInputError(f"--cadence {text!r}: expected e.g. 1m, 5m, 30s, 1h")
    value = float(match.group(1)) * {"s": 1 / 60, "m": 1.0, "h": 60.0}[match.group(2)]
    if value <= 0:
        raise BadInputError("--cadence must be positive")
    return value


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    cost: float


def monthly_bill(
    coins: int,
    cadence_min: float,
    measured: dict[str, Any],
    *,
    ticks_per_batch: int = 1,
    shards: int = 1,
    batch_size: int = 100,
) -> list[Line]:
    """The month's bill, line by line (see the module doc and docs/cost.md)."""
    if coins < 1 or ticks_per_batch < 1 or shards < 1:
        raise BadInputError("coins, ticks per batch and shards must be at least 1")
    p, t = PRICES, measured["per_tick"]
    runs = HOURS_PER_MONTH * 60 / cadence_min
    ticks = runs * coins
    batches_per_coin = ticks / ticks_per_batch  # coin-batches: one state read+write each
    records_per_window = coins * ticks_per_batch
    if ticks_per_batch > 1:  # amortising needs the whole window in one batch (max 10,000)
        batch_size = max(batch_size, min(10_000, records_per_window))
    invocations = (runs / ticks_per_batch) * math.ceil(records_per_window / batch_size)
    wru = t["wru_per_tick"]
    per_tick_wru = wru["crypto_raw_data"] + wru["trading_signals"]
    per_batch_wru = wru["crypto_aggregated_data"] + wru["engine_state"]
    per_batch_rru = sum(t["rru_per_tick"].values())
    cursor_bytes = measured["per_tick"]["item_bytes"].get("engine_state (ingest)", 131) + (
        CURSOR_BYTES_PER_COIN * (coins - t["coins"])
    )
    cursor_wru = runs * max(1, math.ceil(cursor_bytes / 1024))
    cursor_rru = runs * max(1, math.ceil(cursor_bytes / 4096))
    wru_total = ticks * per_tick_wru + batches_per_coin * per_batch_wru + cursor_wru
    rru_total = batches_per_coin * per_batch_rru + cursor_rru

    cpu_stretch = FULL_VCPU_MB / MEMORY_MB
    calls_per_tick = (
        t["dynamodb_write_requests_per_tick"]
        + t["dynamodb_read_requests_per_tick"]
        + t["put_events_calls_per_tick"]
    )
    process_ms = ticks * (t["process_cpu_with_boto_ms_per_tick"] * cpu_stretch)
    process_ms += ticks * calls_per_tick * AWS_CALL_MS
    ingest_ms = runs * INGEST_MS
    gb_seconds = (process_ms + ingest_ms) / 1000 * MEMORY_MB / 1024

    logs = measured.get("log_bytes_per_invocation", {})
    log_gb = (
        runs * (logs.get("ingest", 2000) + PLATFORM_LOG_BYTES)
        + invocations * (logs.get("process", 2000) + PLATFORM_LOG_BYTES)
    ) / 1e9
    raw_bytes = t["item_bytes"]["crypto_raw_data"] + ITEM_OVERHEAD_BYTES
    signal_bytes = 2 * (t["item_bytes"]["trading_signals"] + ITEM_OVERHEAD_BYTES)  # + GSI copy
    stored_gb = (
        coins * runs * RAW_TTL_DAYS / 30.4 * raw_bytes  # raw ticks, a TTL's worth
        + ticks * t["items_per_tick"].get("trading_signals", 0) / 2 * signal_bytes  # a month's
        + coins * (t["item_bytes"]["engine_state"] + 4 * 250)  # state + 4 aggregates per coin
    ) / 1e9
    events = ticks * t["events_per_tick"]
    return [
        Line("Kinesis", "shard-hours", shards * HOURS_PER_MONTH, "shard-h",
             shards * HOURS_PER_MONTH * p["kinesis_shard_hour"]),
        Line("Kinesis", "PUT payload units", ticks, "25 KB units",
             ticks / 1e6 * p["kinesis_put_payload_unit_million"]),
        Line("Lambda", "requests", runs + invocations, "requests",
             (runs + invocations) / 1e6 * p["lambda_request_million"]),
        Line("Lambda", f"duration ({MEMORY_MB} MB)", gb_seconds, "GB-s",
             gb_seconds * p["lambda_gb_second"]),
        Line("DynamoDB", "write request units", wru_total, "WRU",
             wru_total / 1e6 * p["dynamodb_wru_million"]),
        Line("DynamoDB", "read request units", rru_total, "RRU",
             rru_total / 1e6 * p["dynamodb_rru_million"]),
        Line("DynamoDB", "storage + PITR (end of month)", stored_gb, "GB",
             stored_gb * (p["dynamodb_storage_gb_month"] + p["dynamodb_pitr_gb_month"])),
        Line("EventBridge", "custom events (signals)", events, "events",
             events / 1e6 * p["eventbridge_custom_event_million"]),
        Line("CloudWatch", "log ingestion + storage", log_gb, "GB",
             log_gb * (p["cloudwatch_logs_ingest_gb"]
                       + p["cloudwatch_logs_storage_gb_month"] * LOG_RETENTION_DAYS / 30.4)),
        Line("CloudWatch", "custom metrics (EMF)", CUSTOM_METRICS, "metrics",
             CUSTOM_METRICS * p["cloudwatch_metric_month"]),
        Line("CloudWatch", "alarms", ALARMS, "alarms", ALARMS * p["cloudwatch_alarm_month"]),
        Line("CloudWatch", "dashboard (free if <= 3 in the account)", DASHBOARDS, "dashboards",
             DASHBOARDS * p["cloudwatch_dashboard_month"]),
        Line("Secrets Manager", "secret + reads (one per cold start, ~hourly)", SECRETS, "secrets",
             SECRETS * p["secrets_manager_secret_month"]
             + HOURS_PER_MONTH / 1e4 * p["secrets_manager_10k_calls"]),
        Line("KMS", "aws/kinesis data-key requests (~2 per 5 min)", 2 * 12 * HOURS_PER_MONTH,
             "requests", 2 * 12 * HOURS_PER_MONTH / 1e4 * p["kms_10k_requests"]),
    ]  # fmt: skip


def _quantity(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.2f} M"
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.3f}"


def bill_table(lines: list[Line], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("service", "item", "quantity", "unit", "USD / month"):
        table.add_column(
            column, justify="right" if column in ("quantity", "USD / month") else "left"
        )
    for line in lines:
        table.add_row(
            line.service, line.item, _quantity(line.quantity), line.unit, f"{line.cost:,.2f}"
        )
    by_service: dict[str, float] = {}
    for line in lines:
        by_service[line.service] = by_service.get(line.service, 0.0) + line.cost
    table.add_section()
    for service, cost in by_service.items():
        table.add_row(service, "subtotal", "", "", f"{cost:,.2f}")
    table.add_section()
    table.add_row("[bold]total[/]", "", "", "", f"[bold]{sum(by_service.values()):,.2f}[/]")
    return table


class CostFormat(StrEnum):
    table = "table"
    json = "json"


def cost(
    coins: Annotated[int, typer.Option(help="Tracked coins.", min=1)] = 100,
    cadence: Annotated[str, typer.Option(help="Ingest cadence: 1m, 5m, 30s, 1h.")] = "1m",
    ticks_per_batch: Annotated[
        int,
        typer.Option(
            help="Ticks of each coin per process batch (1: live, the 5 s window; K: a batching "
            "window of K cadences and ProcessBatchSize >= coins x K).",
            min=1,
        ),
    ] = 1,
    shards: Annotated[int, typer.Option(help="Kinesis shards (provisioned).", min=1)] = 1,
    format: Annotated[CostFormat, typer.Option(help="Output format.")] = CostFormat.table,
) -> None:
    """The monthly AWS bill of the pipeline, from the benchmark's measured counts per tick."""
    minutes = parse_cadence(cadence)
    measured = load_measured(minutes)
    lines = monthly_bill(coins, minutes, measured, ticks_per_batch=ticks_per_batch, shards=shards)
    total = sum(line.cost for line in lines)
    if format is CostFormat.json:
        typer.echo(
            json.dumps(
                {
                    "coins": coins,
                    "cadence_min": minutes,
                    "measured_cadence": measured["cadence"],
                    "ticks_per_batch": ticks_per_batch,
                    "prices_as_of": PRICES_AS_OF,
                    "lines": [vars(line) for line in lines],
                    "total": total,
                },
                indent=2,
            )
        )
        return
    out = console()
    title = (
        f"{coins} coins every {cadence}, {ticks_per_batch} tick(s) per coin per batch: "
        f"us-east-1 prices of {PRICES_AS_OF}"
    )
    out.print(bill_table(lines, title))
    t = measured["per_tick"]
    out.print(
        f"measured {measured['measured_at']} at a {measured['cadence']} cadence "
        f"(benchmarks/pipeline.py --cadence {measured['cadence']}): "
        f"{sum(t['wru_per_tick'].values()):.2f} WRU, "
        f"{sum(t['rru_per_tick'].values()):.2f} RRU, "
        f"{t['dynamodb_write_requests_per_tick']:.2f} write + "
        f"{t['dynamodb_read_requests_per_tick']:.2f} read requests, "
        f"{t['events_per_tick']:.2f} events per tick; see docs/cost.md",
        highlight=False,
    )
    target_coins, target_minutes, target_usd = TARGET
    if (coins, minutes) == (target_coins, target_minutes):
        verdict = "meets" if total <= target_usd else "misses"
        out.print(
            f"target (issue 4): <= ${target_usd:.0f}/month at {target_coins} coins every 1m: "
            f"{verdict} it (${total:,.2f}); docs/cost.md says what would reach it",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.command()(cost)
