"""The process function's market context, its pure part (`_market`) without the emulator: one
coin tracked means no market, no bitcoin means no beta, a batch without new bars changes nothing,
a broken stored state starts afresh. The whole path on the local stack:
tests/pipeline/test_market_context.py."""

from __future__ import annotations

import json
from typing import Any

from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.store import MARKET_STATE_ID, StoredState
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import Engine
from cryptosignals.handlers.process import _bitcoin_bars, _Fed, _market, _market_coins
from cryptosignals.model import TickSeries

TICKS = slice(2000, 2040)


def _fed(coins: tuple[str, ...], betas: dict[str, Any] | None = None) -> dict[str, _Fed]:
    out = {}
    for coin in coins:
        ticks = candles_to_ticks(coin, read_candles(sample_path(coin)))[TICKS]
        engine = Engine(coin)
        result = engine.feed(ticks)
        out[coin] = _Fed(ticks.ticks(), engine, result, 0, (betas or {}).get(coin))
    return out


def test_fewer_than_two_tracked_coins_make_no_market() -> None:
    assert _market_coins(AwsSettings(tracked_coins=("solana",))) == ()
    assert _market_coins(AwsSettings(tracked_coins=("solana", "solana"))) == ()
    pair = ("ethereum", "bitcoin", "ethereum")
    assert _market_coins(AwsSettings(tracked_coins=pair)) == ("ethereum", "bitcoin")


def test_without_bitcoin_the_market_runs_and_no_coin_has_a_beta() -> None:
    coins = ("ethereum", "solana")
    market = _market(coins, StoredState(MARKET_STATE_ID, None, 0), _fed(coins))
    assert market.changed and not market.betas
    assert set(market.context) == set(coins)
    assert "beta" not in market.context["ethereum"] and "breadth_up" in market.context["ethereum"]
    assert json.loads(json.dumps(market.state)) == market.state  # plain JSON, no NaN


def test_a_batch_without_new_bars_changes_nothing_and_a_broken_state_starts_afresh() -> None:
    coins = ("bitcoin", "ethereum")
    fed = _fed(coins)
    first = _market(coins, StoredState(MARKET_STATE_ID, None, 0), fed)
    assert set(first.betas) == {"ethereum"} and first.context["ethereum"]["end"] is not None
    stored = StoredState(MARKET_STATE_ID, json.loads(json.dumps(first.state)), 1)
    again = {}  # the same ticks again: the engines drop them, so no new bars
    for coin, one in fed.items():
        result = one.engine.feed(TickSeries.from_ticks(coin, one.ticks))
        assert result.accepted == 0
        again[coin] = _Fed(one.ticks, one.engine, result, 1, first.betas.get(coin))
    repeat = _market(coins, stored, again)
    assert not repeat.changed and repeat.betas == first.betas
    assert repeat.context == first.context
    broken = StoredState(MARKET_STATE_ID, {"tracker": {"version": 99}}, 1)
    fresh = _market(coins, broken, _fed(coins, {"ethereum": {"tracker": {"version": 99}}}))
    assert fresh.state["tracker"]["version"] == 1 and fresh.betas["ethereum"]["tracker"]["n"] > 0


def test_the_other_coins_see_bitcoins_kept_and_new_closes() -> None:
    """What the other coins' P(up) reads of bitcoin: the market item's kept settled closes,
    then bitcoin's new bars of the batch (fed first); nothing when neither is known."""
    coins = ("bitcoin", "ethereum")
    fed = _fed(coins)
    first = _market(coins, StoredState(MARKET_STATE_ID, None, 0), fed)
    kept = StoredState(MARKET_STATE_ID, first.state, 1)
    later = candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin")))[2040:2052]
    engine = fed["bitcoin"].engine
    new = _Fed(later.ticks(), engine, engine.feed(later), 1)
    end, close = _bitcoin_bars(kept, new)
    settled = [row for row in first.state["recent"]["rows"] if row[1][0] is not None]
    assert len(settled) > 10 and len(new.result.bars["end"]) == 12
    assert end.tolist() == sorted({r[0] for r in settled} | set(new.result.bars["end"].tolist()))
    at = dict(zip(end.tolist(), close.tolist(), strict=True))
    assert all(at[r[0]] == r[1][0] for r in settled)
    bars = new.result.bars
    assert all(at[e] == c for e, c in zip(bars["end"], bars["close"], strict=True))
    assert _bitcoin_bars(None, None) is None
    assert _bitcoin_bars(StoredState(MARKET_STATE_ID, None, 0), None) is None
