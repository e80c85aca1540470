"""Proof: the process function streams the market context (cryptosignals.market) as the batch
analysis computes it, through a state write that conflicts and through a full redelivery.

Four coins' bundled samples (a slice) go through Kinesis -> process on the local stack. The
60-minute aggregate of ethereum must carry a `market` map equal to what
`models.market.market_history` computes on the engine's bars of the same ticks; the market item
must equal one tracker fed every bar at once; a state write of ethereum that conflicts midway
(its records come back) must change nothing of that; a redelivery of the whole stream must
change neither the market item nor any beta state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from pipeline_support import SIGNALS_BY_COIN, coin_items

from cryptosignals.aws import Store, TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.store import MARKET_STATE_ID, StateConflictError, StoredState
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import closed_bars
from cryptosignals.handlers.process import with_beta
from cryptosignals.local.runtime import KinesisPoller
from cryptosignals.local.stack import LocalStack
from cryptosignals.market import BetaTracker, MarketTracker
from cryptosignals.model import Signal
from cryptosignals.models.market import market_history

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COINS = AwsSettings().tracked_coins  # the template's TrackedCoins: bitcoin first
TICKS = slice(2000, 2000 + 360)  # 30 hours of 5-minute ticks: beta needs 6 hours to start


def _states(stack: LocalStack, *ids: str) -> dict[str, StoredState]:
    table = stack.names["engine_state_table"]
    store = Store(AwsSettings(engine_state_table=table), client=stack.client("dynamodb"))
    return store.get_states(ids)


def _state(stored: StoredState) -> dict[str, Any]:
    assert stored.state is not None, f"no state stored for {stored.crypto_id}"
    return stored.state


def test_the_market_context_streams_as_the_batch_computes_it_through_conflicts_and_redelivery(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = {c: candles_to_ticks(c, read_candles(sample_path(c)))[TICKS] for c in COINS}
    midway = int(ticks["ethereum"].timestamp[len(ticks["ethereum"]) // 2])
    real, conflicts = Store.put_state, list[int]()

    def conflicting_once(self: Store, coin: str, state: Any, version: int) -> int:
        beta_end = (state.get("beta") or {}).get("row", {}).get("end") or 0
        if coin == "ethereum" and beta_end >= midway and not conflicts:
            conflicts.append(beta_end)  # the market item of this batch is already written
            raise StateConflictError("engine state of ethereum changed (test)")
        return real(self, coin, state, version)

    monkeypatch.setattr(Store, "put_state", conflicting_once)
    producer = TickProducer(
        AwsSettings(stream_name="lambda-stream"), client=stack.client("kinesis")
    )
    producer.send([t for c in COINS for t in ticks[c].ticks()])
    (poller,) = stack.pollers()
    report = poller.drain()
    assert conflicts and report.batches_ok < report.invocations

    # What the batch analysis computes on the engine's bars of the same ticks.
    bars = {c: closed_bars(ticks[c]) for c in COINS}
    history = market_history({c: (b["end"], b["close"]) for c, b in bars.items()})
    (hour,) = [i for i in coin_items(stack, stack.names["aggregated_table"], "ethereum")
               if i["time_window"] == 60]  # fmt: skip
    streamed = hour["market"]
    at = int(np.flatnonzero(history.beta["ethereum"]["end"] == streamed["end"])[0])
    for key in ("beta", "corr", "explained_share", "btc_driven"):
        assert streamed[key] == history.beta["ethereum"][key][at].item(), key  # equal, not near
    assert 0.5 < streamed["beta"] < 2 and streamed["corr"] > 0.5
    row = int(np.flatnonzero(history.market["end"] == streamed["end"])[0])
    for key in ("breadth_up", "breadth_ma", "pc1_share", "mean_corr"):
        assert streamed[key] == history.market[key][row].item(), key
    assert streamed["alert"] == history.market["alert"][row]

    # Every ethereum signal whose bar was settled carries bitcoin's part in its move, as the
    # batch rows give it (question 17); bitcoin's own signals do not.
    stored = [
        Signal.from_json(i)
        for i in coin_items(stack, stack.names["signals_table"], "ethereum", SIGNALS_BY_COIN)
    ]
    keys = ("beta", "explained_share", "btc_driven")
    bare = [replace(s, details={k: v for k, v in s.details.items() if k not in keys})
            for s in stored]  # fmt: skip
    expected = with_beta(bare, history.beta["ethereum"])
    assert [s.details for s in stored] == [s.details for s in expected]
    with_share = [s for s in stored if "explained_share" in s.details]
    assert len(with_share) > len(stored) // 2, (len(with_share), len(stored))
    assert {s.details["btc_driven"] for s in with_share} == {0.0, 1.0}
    btc = coin_items(stack, stack.names["signals_table"], "bitcoin", SIGNALS_BY_COIN)
    assert btc and not any("explained_share" in i["details"] for i in btc)

    # The market-wide alerts are stored as the pseudo-coin "market"'s signals with their track
    # record, as the batch makes them (question 18).
    market_signals = coin_items(stack, stack.names["signals_table"], "market", SIGNALS_BY_COIN)
    assert {i["signal_id"]: Signal.from_json(i).to_json() for i in market_signals} == {
        s.signal_id: s.to_json() for s in history.signals
    }

    # The market item equals one tracker fed every bar at once (the conflicted coin's bars came
    # back and were dropped as late: only that count differs), and so does ethereum's beta.
    states = _states(stack, MARKET_STATE_ID, *COINS)
    market = states[MARKET_STATE_ID]
    reference = MarketTracker(COINS)
    settled = reference.update({c: (b["end"], b["close"]) for c, b in bars.items()})
    assert {**_state(market)["tracker"], "late": 0} == reference.to_json()
    assert _state(market)["tracker"]["late"] > 0  # ethereum's bars of the conflicted batch
    j, b = COINS.index("ethereum"), COINS.index("bitcoin")
    beta = BetaTracker(288.0)
    beta.update(settled["end"], settled["closes"][:, j], settled["closes"][:, b])
    assert _state(states["ethereum"])["beta"]["tracker"] == beta.to_json()
    assert "beta" not in _state(states["bitcoin"])

    # The item is small: the compressed state of 4 coins plus 24 bar times' closes and the
    # market alerts' track records: two write units a batch, shared by the batch's coins.
    raw = stack.client("dynamodb").get_item(
        TableName=stack.names["engine_state_table"], Key={"crypto_id": {"S": MARKET_STATE_ID}}
    )["Item"]
    assert len(raw["state"]["B"]) < 2048

    # Lambda redelivers everything: nothing of the market context changes.
    monkeypatch.setattr(Store, "put_state", real)
    again = KinesisPoller(stack.runtime, poller.mapping["UUID"])
    redelivered = again.drain()
    assert redelivered.records_read > 0 and redelivered.batches_ok == redelivered.invocations
    after = _states(stack, MARKET_STATE_ID, *COINS)
    assert after[MARKET_STATE_ID] == market  # same state, same version: not rewritten
    for coin in COINS[1:]:
        assert _state(after[coin])["beta"] == _state(states[coin])["beta"]
