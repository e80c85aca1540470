"""Proof: the deployed pipeline, fed a file tick by tick through the replay server, stores
exactly the signals `cryptosignals analyze` computes over the same file in one batch.

schedule -> ingest handler (replay server) -> Kinesis -> the deployed mapping (batch size,
batching window) -> process handler -> trading_signals. The replay clock moves by exactly the
candle interval per schedule period, so the ingest sees every tick of the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pipeline_support import SIGNALS_BY_COIN, coin_items

from cryptosignals.candles import read_candles, sample_path
from cryptosignals.coingecko.replay import ReplayServer
from cryptosignals.commands.analyze import render_jsonl, signals_of_file
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COIN = "solana"
CANDLES = 2 * 288  # two days of 5-minute candles


def _query(stack: LocalStack, table: str, coin: str, key: str) -> list[dict[str, Any]]:
    """Every item of a coin (signals through their GSI), sorted by `key`."""
    index = SIGNALS_BY_COIN if key == "signal_id" else None
    return sorted(coin_items(stack, table, coin, index), key=lambda i: i[key])


def _csv_slice(path: Path) -> Path:
    """A slice of the bundled sample written as a user's candle file."""
    candles = read_candles(sample_path(COIN))[3000 : 3000 + CANDLES]
    lines = ["timestamp,open,high,low,close,volume"]
    for row in zip(*(getattr(candles, c) for c in ("timestamp", "open", "high", "low",
                                                     "close", "volume")), strict=True):  # fmt: skip
        lines.append(",".join(repr(v.item()) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_signals_stored_by_the_pipeline_equal_analyze_over_the_same_file(
    stack: LocalStack, tmp_path: Path
) -> None:
    source = _csv_slice(tmp_path / f"{COIN}_5m.csv")
    batch = signals_of_file(source, COIN)  # what `cryptosignals analyze --input` prints
    assert len(batch) > 20, "the slice should make signals"

    with ReplayServer(tmp_path, start=0) as server:  # the clock starts at the first tick
        ticks = server.ticks(COIN)
        interval = int(ticks.timestamp[1] - ticks.timestamp[0])
        stack.set_function_environment(
            stack.names["ingest_function"],
            {
                "COINGECKO_API_URL": server.url,
                "COINGECKO_RATE_LIMIT_PER_MIN": "100000",
                "TRACKED_COINS": COIN,
            },
        )
        scheduler = stack.scheduler(start=0)
        (target,) = scheduler.targets
        assert target.period == interval, "one schedule period per candle"
        (poller,) = stack.pollers()
        runs = scheduler.fire_now()  # the first tick, at the first candle's close
        for _ in range(len(ticks) - 1):
            server.clock.advance(interval)
            runs += scheduler.advance(interval)
            poller.poll()  # the mapping's batch size and batching window decide
        poller.drain()
    assert not [r.error_message for r in runs if r.failed]
    assert sum(r.result["sent"] for r in runs) == len(ticks)

    raw = _query(stack, stack.names["raw_table"], COIN, "loading_time")
    assert [r["loading_time"] for r in raw] == ticks.timestamp.tolist()  # every tick, once
    stored = [
        Signal.from_json(i) for i in _query(stack, stack.names["signals_table"], COIN, "signal_id")
    ]
    by_id = {s.signal_id: s.to_json() for s in stored}
    assert len(by_id) == len(stored)
    assert sorted(by_id) == sorted(s.signal_id for s in batch)
    assert by_id == {s.signal_id: s.to_json() for s in batch}  # same fields, to the bit
    order = sorted(stored, key=lambda s: [s.to_json()[k] for k in ("timestamp", "rule")])
    assert render_jsonl(order) == render_jsonl(sorted(batch, key=lambda s: (s.timestamp, s.rule)))
    assert all(
        "published_at" in i for i in _query(stack, stack.names["signals_table"], COIN, "signal_id")
    )
    assert json.loads(render_jsonl(batch[:1]))["crypto_id"] == COIN
