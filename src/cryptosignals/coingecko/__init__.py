"""CoinGecko ingestion: the API client and an offline, CoinGecko-compatible replay server.

`CoinGeckoClient` calls the API (plans, key, rate limit, retries, monthly budget) and returns
the project's models; `ReplayServer` serves candle files over the same HTTP API on 127.0.0.1.
See docs/coingecko.md.
"""

from cryptosignals.coingecko.client import ApiKey, CandleSet, CoinGeckoClient, Plan
from cryptosignals.coingecko.limits import CallCounter, TokenBucket
from cryptosignals.coingecko.parsing import Chart, Quotes
from cryptosignals.coingecko.replay import FaultPlan, ReplayServer

__all__ = [
    "ApiKey",
    "CallCounter",
    "CandleSet",
    "Chart",
    "CoinGeckoClient",
    "FaultPlan",
    "Plan",
    "Quotes",
    "ReplayServer",
    "TokenBucket",
]
