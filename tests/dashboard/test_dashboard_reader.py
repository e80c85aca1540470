"""The dashboard's reader against the emulator: what the pipeline stored, incrementally; clear
messages for empty tables, missing tables and an endpoint nobody answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from botocore import xform_name
from dashboard_support import run_pipeline, sample_ticks

from cryptosignals.aws.config import AwsSettings
from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.dashboard import figures
from cryptosignals.dashboard.app import status_text
from cryptosignals.dashboard.market import Span
from cryptosignals.dashboard.reader import (
    OVERLAP_SECONDS,
    DashboardReader,
    DataUnavailableError,
    _risk,
)
from cryptosignals.engine import Engine
from cryptosignals.local.emulator import FAKE_CREDENTIALS, Emulator, free_port
from cryptosignals.local.stack import LocalStack


class _Counter:
    """Counts a boto3 client's DynamoDB requests and the items queries returned, from
    botocore's own events (paginated calls included), keyed like `query:table:index`."""

    def __init__(self, client: Any) -> None:
        self.items: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["counted_as"] = f"{params.get('TableName')}:{params.get('IndexName', '')}"

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        name = xform_name(model.name)
        self.calls[name] = self.calls.get(name, 0) + 1
        key = f"{name}:{context.get('counted_as')}"
        self.items[key] = self.items.get(key, 0) + len(parsed.get("Items", []))


@pytest.mark.integration
@pytest.mark.slow
def test_reader_shows_what_the_pipeline_stored_and_then_reads_only_new_ticks(
    fresh_stack: LocalStack,
) -> None:
    ticks = {coin: sample_ticks(coin, 1.5) for coin in SAMPLE_COINS}
    first = {coin: series[:-12] for coin, series in ticks.items()}
    run_pipeline(fresh_stack, list(first.values()))
    reader = DashboardReader(budget=None)
    counting = _Counter(reader.client)

    market = reader.refresh()
    assert market.coins == ["bitcoin", "cardano", "ethereum", "solana"]
    end = int(first["bitcoin"].timestamp[-1])
    assert market.as_of == end
    for coin, series in first.items():
        held = market.series[coin]
        expected = series[series.timestamp > end - Span.H24]
        assert np.array_equal(held.timestamp, expected.timestamp)
        assert np.array_equal(held.price, expected.price)
        assert np.array_equal(held.volume_24h, expected.volume_24h, equal_nan=True)
    engines = {coin: Engine(coin).feed(series) for coin, series in first.items()}
    expected_signals = {
        s.signal_id
        for result in engines.values()
        for s in result.signals
        if s.timestamp > end - Span.H24
    }
    assert {s.signal_id for s in market.signals} == expected_signals
    assert len(market.aggregates) == 4 * len(SAMPLE_COINS)
    assert {a.window_end for a in market.aggregates} == {end}
    # the latest forecast and regime stored with each 60-minute aggregate
    assert set(market.risk) == set(SAMPLE_COINS)
    for coin, result in engines.items():
        stored, held = result.risk, market.risk[coin]
        assert stored is not None and held["timestamp"] == stored["timestamp"]
        for key in ("sigma", "var_99"):
            assert held["horizons"]["1h"][key] == pytest.approx(stored["horizons"]["1h"][key])
        assert held["position_size"] == pytest.approx(stored["position_size"])
        assert held["regime"]["name"] == stored["regime"]["name"]
    assert all(row["var_99_1h"] and row["regime"] for row in figures.risk_rows(market))
    # the market context stored with it: the beta table reads bitcoin's share from there
    assert set(market.context) == set(SAMPLE_COINS)
    assert all(0.0 <= c["breadth_up"] <= 1.0 for c in market.context.values())
    betas = figures.beta_rows(market)
    assert {r["coin"] for r in betas} == set(SAMPLE_COINS) - {"bitcoin"}
    assert {r["source"] for r in betas} == {"pipeline"}
    # the price fan stored with it is the engine's, and it is the cone the chart draws
    for coin, result in engines.items():
        assert result.risk is not None
        for horizon, quantiles in result.risk["fan"].items():
            assert market.risk[coin]["fan"][horizon] == pytest.approx(quantiles), horizon
        cone = figures.fan_cone(market, coin)
        assert cone is not None and (cone.source, cone.end) == ("pipeline", end)
    # bitcoin's part in the other coins' signals, as the process function stored it
    rows = figures.signal_rows(market.signals)
    driven = [r for r in rows if r["btc_driven"] is not None]
    assert driven and {r["coin"] for r in driven} <= set(SAMPLE_COINS) - {"bitcoin"}
    assert {r["btc_driven"] for r in driven} <= {"yes", "no"}
    # four coins make no market alert (it needs five with a move): the panel says so
    assert figures.market_alerts(market, None) == ([], "pipeline")

    # 11 new ticks per coin: each coin's tail is queried again, from a little before its newest
    read_before = counting.items.get("query:crypto_raw_data:", 0)
    run_pipeline(fresh_stack, [series[-12:-1] for series in ticks.values()])
    market = reader.refresh()
    assert market.as_of == int(ticks["bitcoin"].timestamp[-2])
    overlap = sum(
        int(np.sum(series.timestamp[:-12] > end - OVERLAP_SECONDS)) for series in ticks.values()
    )
    read = counting.items["query:crypto_raw_data:"] - read_before
    assert read == 11 * len(SAMPLE_COINS) + overlap
    reader.refresh()  # settles (signals stored after the aggregates), no tick read

    # 1 new tick per coin (a live pipeline's usual case): one BatchGetItem, no query
    read_before = counting.items["query:crypto_raw_data:"]
    gets_before = counting.calls.get("batch_get_item", 0)
    run_pipeline(fresh_stack, [series[-1:] for series in ticks.values()])
    market = reader.refresh()
    assert counting.items["query:crypto_raw_data:"] == read_before
    assert counting.calls["batch_get_item"] == gets_before + 1
    assert market.as_of == int(ticks["bitcoin"].timestamp[-1])
    for coin, series in ticks.items():
        held = market.series[coin]
        assert np.array_equal(held.timestamp, series.timestamp[-len(held) :])
        assert held.price[-1] == series.price[-1]
        assert held.timestamp[0] > market.as_of - Span.H24

    reader.want_history(Span.D7)  # a longer span reads the older part once
    market = reader.refresh()
    assert len(market.series["bitcoin"]) == len(ticks["bitcoin"])

    before = dict(counting.items)
    assert reader.refresh().tick_count == market.tick_count
    reader.refresh()
    assert counting.items.get("query:crypto_raw_data:", 0) == before["query:crypto_raw_data:"], (
        "nothing new: no coin is queried"
    )


@pytest.mark.integration
def test_a_slow_backend_gets_the_last_hour_first_then_the_rest_in_chunks(
    fresh_stack: LocalStack,
) -> None:
    ticks = {coin: sample_ticks(coin, 1.0) for coin in SAMPLE_COINS[:2]}
    run_pipeline(fresh_stack, list(ticks.values()))
    reader = DashboardReader(budget=0.0)  # as if every read took longer than the budget
    market = reader.refresh()
    assert reader.loading
    assert {len(s) for s in market.series.values()} == {12}  # the last hour of 5-minute ticks
    assert "reading older ticks" in status_text(market, None, 0.0, reader.loading)
    sizes = []
    while reader.loading:
        sizes.append(len(reader.refresh().series["bitcoin"]))
    assert sizes == [12 + 72, 12 + 144, 12 + 216, 288]  # 6-hour chunks, then the rest
    assert np.array_equal(reader.market.series["bitcoin"].timestamp, ticks["bitcoin"].timestamp)


@pytest.mark.integration
def test_empty_tables_give_an_empty_market_and_a_message(fresh_stack: LocalStack) -> None:
    market = DashboardReader().refresh()
    assert market.coins == [] and market.as_of is None
    assert "tables are empty" in status_text(market, None, 0.0)


@pytest.mark.integration
def test_missing_tables_say_to_deploy_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = Emulator.start()
    try:
        settings = AwsSettings(endpoint_url=emulator.endpoint)
        for key, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(DataUnavailableError, match=r"does not exist .* deploy the stack"):
            DashboardReader(settings).refresh()
    finally:
        emulator.stop()


def test_an_endpoint_nobody_answers_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    endpoint = f"http://127.0.0.1:{free_port()}"
    reader = DashboardReader(AwsSettings(endpoint_url=endpoint))
    with pytest.raises(DataUnavailableError) as caught:
        reader.refresh()
    message = str(caught.value)
    assert message.startswith(f"Cannot reach DynamoDB at {endpoint}")
    assert "emulator" in message and "Traceback" not in message
    assert status_text(reader.market, message, 0.0) == message


def test_the_risk_and_market_maps_of_a_60_minute_aggregate_item_are_read() -> None:
    risk = {
        "timestamp": {"N": "1744588800"},
        "horizons": {"M": {"1h": {"M": {"sigma": {"N": "0.0099"}, "var_99": {"N": "0.0324"}}}}},
        "position_size": {"N": "0.31"},
        "regime": {"M": {"name": {"S": "volatile"}, "rank": {"N": "2"}}},
    }
    item = {"crypto_id": {"S": "bitcoin"}, "time_window": {"N": "60"}, "risk": {"M": risk}}
    coin, read = _risk(item) or ("", {})
    assert coin == "bitcoin" and read["timestamp"] == 1744588800
    assert read["horizons"]["1h"]["var_99"] == 0.0324 and read["regime"]["rank"] == 2
    assert _risk({**item, "time_window": {"N": "5"}}) is None
    assert _risk({"crypto_id": {"S": "bitcoin"}, "time_window": {"N": "60"}}) is None
    market = {"breadth_up": {"N": "0.75"}, "beta": {"N": "1.2"}, "btc_driven": {"BOOL": True}}
    coin, read = _risk({**item, "market": {"M": market}}, "market") or ("", {})
    assert (coin, read) == ("bitcoin", {"breadth_up": 0.75, "beta": 1.2, "btc_driven": True})
    assert _risk(item, "market") is None
