"""Shared fixtures: the bundled real sample and a seeded synthetic market."""

from __future__ import annotations

import pytest

from cryptosignals.candles import SAMPLE_COINS, Candles, read_candles, sample_path


@pytest.fixture(scope="session", params=SAMPLE_COINS)
def sample_candles(request: pytest.FixtureRequest) -> Candles:
    """Three weeks of real 5-minute candles of each bundled coin."""
    return read_candles(sample_path(request.param))


@pytest.fixture(scope="session")
def btc_candles() -> Candles:
    return read_candles(sample_path("bitcoin"))
