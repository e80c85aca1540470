"""Markets for the dashboard tests: the engine over the bundled sample, and a large synthetic."""

from __future__ import annotations

import numpy as np

from cryptosignals.candles import SAMPLE_COINS, candles_to_ticks, read_candles, sample_path
from cryptosignals.dashboard.market import Market
from cryptosignals.engine import Engine
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal, SignalType, TickSeries
from cryptosignals.windows import WINDOWS, Aggregate

DAY = 86_400


def sample_ticks(coin: str, days: float) -> TickSeries:
    """The last `days` of the bundled sample of a coin (5-minute ticks)."""
    ticks = candles_to_ticks(coin, read_candles(sample_path(coin)))
    return ticks[-int(days * 288) :]


def sample_market(days: float = 2.0) -> Market:
    """What the pipeline stores for the last `days` of the sample: ticks, signals, aggregates
    and the latest risk forecast and regime."""
    series, signals, aggregates, risk = {}, [], [], {}
    for coin in SAMPLE_COINS:
        ticks = sample_ticks(coin, days)
        result = Engine(coin).feed(ticks)
        series[coin] = ticks
        signals += result.signals
        aggregates += result.aggregates
        if result.risk is not None:
            risk[coin] = result.risk
    return Market(series, signals, aggregates, risk)


def planted_betas(coins: int) -> np.ndarray:
    """The altcoins' betas to bitcoin in `synthetic_market`."""
    return np.linspace(0.5, 2.0, coins - 1)


def synthetic_market(
    coins: int = 50, minutes: int = 1440, seed: int = 7, end: int = 1_750_000_020
) -> Market:
    """`coins` coins of 1-minute ticks over `minutes`, returns = beta * market + noise (coin 0 is
    bitcoin, beta 1), 24h volumes, a signal every ~30 minutes per coin, 4 aggregates per coin."""
    rng = np.random.default_rng(seed)
    names = ["bitcoin"] + [f"coin-{i:02d}" for i in range(1, coins)]
    timestamp = end - 60 * np.arange(minutes)[::-1].astype(np.int64)
    market = rng.normal(0, 1e-3, minutes)
    betas = np.concatenate([[1.0], planted_betas(coins)])
    series, signals, aggregates = {}, [], []
    for name, b in zip(names, betas, strict=True):
        own = rng.normal(0, 5e-4 if name != "bitcoin" else 0.0, minutes)
        price = 100.0 * np.exp(np.cumsum(b * market + own))
        volume = 1e8 * np.exp(rng.normal(0, 0.05, minutes).cumsum() * 0.1)
        nan = np.full(minutes, np.nan)
        series[name] = TickSeries(name, timestamp, price, volume, nan, nan)
        for i in range(15, minutes, 30):
            kind = list(SignalType)[i // 30 % 3]
            signals.append(
                Signal(name, int(timestamp[i]), kind, "ma_crossover", "5m", float(price[i]), 0.6)
            )
        for window in WINDOWS:
            aggregates.append(
                Aggregate(name, window, end, float(price[-1]), float(price.min()),
                          float(price.max()), float(volume[-1]), 0.5, int(window))
            )  # fmt: skip
    return Market(series, signals, aggregates)


def run_pipeline(stack: LocalStack, ticks: list[TickSeries]) -> int:
    """Put ticks on the stack's stream and let the process function store them (as on AWS:
    Kinesis -> event source mapping -> handler -> DynamoDB). Returns the records processed."""
    from cryptosignals.aws.config import AwsSettings
    from cryptosignals.aws.kinesis import TickProducer
    from cryptosignals.local.runtime import temporary_environment

    with temporary_environment(stack.environment()):
        producer = TickProducer(AwsSettings.from_env())
        producer.send([t for series in ticks for t in series.ticks()])
        return sum(poller.drain().records_read for poller in stack.pollers())


def moving_market(
    coins: int = 5, days: float = 1.5, seed: int = 3, end: int = 1_750_000_200
) -> dict[str, TickSeries]:
    """5-minute ticks of `coins` coins that move as one (return = common factor x 0.002 + own
    noise x 0.0015: breadth swings with the market), so that the market tracker's alerts fire
    after its first day (they need five coins with a move: the bundled four never give one);
    the defaults give four alerts in the last half day. Coin 0 is bitcoin."""
    rng = np.random.default_rng(seed)
    n = int(days * 288)
    timestamp = end - 300 * np.arange(n)[::-1].astype(np.int64)
    factor = rng.normal(0.0, 1.0, n)
    names = ["bitcoin"] + [f"coin-{i}" for i in range(1, coins)]
    nan = np.full(n, np.nan)
    series = {}
    for name in names:
        price = 10.0 * np.exp(np.cumsum(0.002 * factor + rng.normal(0.0, 0.0015, n)))
        series[name] = TickSeries(name, timestamp, price, np.full(n, 1e8), nan, nan)
    return series
