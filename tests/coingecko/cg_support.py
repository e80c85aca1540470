"""Helpers of the CoinGecko tests: example bodies and a client for a replay server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptosignals.coingecko import CallCounter, CoinGeckoClient, ReplayServer, TokenBucket

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "coingecko"


def example(name: str) -> Any:
    """A CoinGecko example body (copied from the facts sheet): JSON, or text for .txt."""
    text = (EXAMPLES / name).read_text()
    return text if name.endswith(".txt") else json.loads(text)


def example_text(name: str) -> str:
    return (EXAMPLES / name).read_text()


def make_client(server: ReplayServer, **options: Any) -> CoinGeckoClient:
    """A Demo client for a replay server: its own fast bucket, no monthly budget, short waits."""
    options.setdefault("bucket", TokenBucket(100_000, 1.0))
    options.setdefault("counter", CallCounter(None))
    options.setdefault("backoff_factor", 0.05)
    options.setdefault("backoff_jitter", 0.05)
    options.setdefault("time_budget_s", 10.0)
    options.setdefault("timeout_s", 5.0)
    return CoinGeckoClient(options.pop("plan", "demo"), base_url=server.url, **options)
