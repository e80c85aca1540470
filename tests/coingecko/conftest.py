"""Fixtures: replay servers on 127.0.0.1 (each stopped when its test ends) and a client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cg_support import make_client

from cryptosignals.candles import Candles
from cryptosignals.coingecko import CoinGeckoClient, ReplayServer
from cryptosignals.coingecko.replay import load_candles


@pytest.fixture(scope="session")
def replay_candles() -> dict[str, Candles]:
    """The bundled sample (4 coins, 3 weeks of 5-minute candles), read once."""
    return load_candles()


@pytest.fixture
def start_server(replay_candles: dict[str, Candles]) -> Iterator[Callable[..., ReplayServer]]:
    """Start replay servers with options; every one is stopped when the test ends."""
    servers: list[ReplayServer] = []

    def start(data: Any = None, **options: Any) -> ReplayServer:
        server = ReplayServer(replay_candles if data is None else data, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., ReplayServer]) -> ReplayServer:
    """A replay server with no limits and no faults, its clock frozen one day into the sample."""
    return start_server()


@pytest.fixture
def client(server: ReplayServer) -> Iterator[CoinGeckoClient]:
    with make_client(server) as client:
        yield client
