"""The `prices`, `backfill`, `quota` and `replay-server` commands, run for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import requests
import typer
from typer.testing import CliRunner

from cryptosignals import settings
from cryptosignals.candles import SAMPLE_COINS, read_candles
from cryptosignals.coingecko import ReplayServer
from cryptosignals.coingecko.errors import CoinNotFoundError
from cryptosignals.commands import coingecko as commands

Start = Callable[..., ReplayServer]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run a command of a fresh app with a clean CoinGecko environment."""
    for name in vars(settings).values():
        if isinstance(name, str) and name.startswith("COINGECKO_"):
            monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()

    def run(*args: str) -> object:
        return runner.invoke(app, list(args), catch_exceptions=True)

    return run


def test_quota_prints_the_monthly_arithmetic(cli: Callable[..., object]) -> None:
    table = cli("quota")
    assert table.exit_code == 0 and "43,200" in table.output and "8,640" in table.output
    fits = cli("quota", "--coins", "250", "--cadence", "5", "--backfill-coins", "4")
    assert fits.exit_code == 0 and "total 8,644 of 10,000" in fits.output
    over = cli("quota", "--coins", "1000", "--cadence", "15")
    assert over.exit_code == 1 and "11,520" in over.output


@pytest.mark.integration
def test_prices_shows_a_table_of_quotes_and_the_rejected_ids(
    cli: Callable[..., object], server: ReplayServer
) -> None:
    result = cli("prices", "bitcoin", "cardano", "no-such-coin", "--api-url", server.url)
    assert result.exit_code == 0, result.output
    assert "bitcoin" in result.output and "cardano" in result.output
    assert "rejected no-such-coin" in result.output


@pytest.mark.integration
def test_backfill_writes_candle_files_that_read_back(
    cli: Callable[..., object], server: ReplayServer, tmp_path: Path
) -> None:
    server.clock.set(server.clock.last)
    result = cli(
        "backfill", "--coins", *SAMPLE_COINS, "--days", "14", "--out", str(tmp_path),
        "--api-url", server.url, "--rate-limit", "100000",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for coin in SAMPLE_COINS:
        candles = read_candles(tmp_path / f"{coin}_1h.csv.gz")
        assert len(candles) == 14 * 24 + 1 and set(np.diff(candles.timestamp)) == {3_600_000}
        closes = server.ticks(coin)
        at = np.searchsorted(closes.timestamp, candles.timestamp // 1000 + 3600)
        np.testing.assert_array_equal(candles.close, closes.price[at])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{c}_1h.csv.gz" for c in SAMPLE_COINS
    )


@pytest.mark.integration
def test_an_interrupted_backfill_resumes_without_repeating_calls(
    start_server: Start, replay_candles: dict, tmp_path: Path, cli: Callable[..., object]
) -> None:
    without_solana = {c: v for c, v in replay_candles.items() if c != "solana"}
    first = start_server(without_solana)
    args = ["backfill", "bitcoin", "solana", "ethereum", "--days", "7", "--out", str(tmp_path)]
    failed = cli(*args, "--api-url", first.url, "--rate-limit", "100000")
    assert isinstance(failed.exception, CoinNotFoundError)  # solana is unknown there
    assert (tmp_path / "bitcoin_1h.csv.gz").exists()
    assert not (tmp_path / "ethereum_1h.csv.gz").exists()
    second = start_server()
    resumed = cli(*args, "--api-url", second.url, "--rate-limit", "100000")
    assert resumed.exit_code == 0, resumed.output
    assert [r.path for r in second.requests] == [
        "/api/v3/coins/solana/market_chart/range",
        "/api/v3/coins/ethereum/market_chart/range",
    ]  # no ping (the plan's end time was kept), no bitcoin again
    assert {p.name for p in tmp_path.iterdir()} == {
        "bitcoin_1h.csv.gz", "solana_1h.csv.gz", "ethereum_1h.csv.gz"
    }  # fmt: skip


@pytest.mark.integration
def test_a_longer_backfill_into_the_same_folder_fetches_the_longer_range(
    cli: Callable[..., object], server: ReplayServer, tmp_path: Path
) -> None:
    server.clock.set(server.clock.last)
    for days in (3, 6):
        result = cli(
            "backfill", "bitcoin", "--days", str(days), "--out", str(tmp_path),
            "--api-url", server.url, "--rate-limit", "100000",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert len(read_candles(tmp_path / "bitcoin_1h.csv.gz")) == days * 24 + 1


@pytest.mark.integration
@pytest.mark.e2e
def test_the_replay_server_command_serves_until_stopped() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINGECKO_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cryptosignals", "replay-server", "--port", "0", "--speed", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**env, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/api/v3", line)
        assert match, line
        assert requests.get(match[0] + "/ping", timeout=5).json() == {
            "gecko_says": "(V3) To the Moon!"
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
