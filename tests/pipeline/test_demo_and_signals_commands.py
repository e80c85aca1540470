"""The demo's wiring (sources, latency figures) and `cryptosignals signals` over the stack.

`--source live` cannot be run here (no internet): what is checked is that it points the ingest
function at the plan's real URL, with the plan, rate and key of the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cryptosignals.aws import AwsSettings, Store
from cryptosignals.commands.demo import Source, ingest_environment, live_api_key, percentile
from cryptosignals.commands.signals import parse_since
from cryptosignals.errors import BadInputError
from cryptosignals.local.stack import LocalStack
from cryptosignals.model import Signal, SignalType

COINGECKO_VARIABLES = (
    "COINGECKO_PLAN", "COINGECKO_API_URL", "COINGECKO_API_KEY", "COINGECKO_API_KEY_SECRET",
    "COINGECKO_API_KEY_PARAM", "COINGECKO_RATE_LIMIT_PER_MIN",
)  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in COINGECKO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_replay_points_the_ingest_at_the_replay_server() -> None:
    env = ingest_environment(Source.replay, "http://127.0.0.1:1234/api/v3")
    assert env["COINGECKO_API_URL"] == "http://127.0.0.1:1234/api/v3"
    with pytest.raises(BadInputError):
        ingest_environment(Source.replay)


@pytest.mark.parametrize(
    ("plan", "url", "rate"),
    [
        ("demo", "https://api.coingecko.com/api/v3", "30"),
        ("pro", "https://pro-api.coingecko.com/api/v3", "500"),
        ("public", "https://api.coingecko.com/api/v3", "5"),
    ],
)
def test_live_points_the_ingest_at_the_plans_real_api(
    clean_env: pytest.MonkeyPatch, plan: str, url: str, rate: str
) -> None:
    clean_env.setenv("COINGECKO_PLAN", plan)
    assert ingest_environment(Source.live) == {
        "COINGECKO_API_URL": url,
        "COINGECKO_PLAN": plan,
        "COINGECKO_RATE_LIMIT_PER_MIN": rate,
    }
    clean_env.setenv("COINGECKO_API_URL", "https://proxy.example/api/v3")
    assert ingest_environment(Source.live)["COINGECKO_API_URL"] == "https://proxy.example/api/v3"


def test_live_takes_the_key_from_the_environment_or_says_what_is_missing(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("COINGECKO_PLAN", "demo")
    with pytest.raises(BadInputError, match="COINGECKO_API_KEY"):
        live_api_key()
    clean_env.setenv("COINGECKO_API_KEY", "CG-not-a-real-key")
    assert live_api_key() == "CG-not-a-real-key"
    clean_env.setenv("COINGECKO_PLAN", "public")
    assert live_api_key() is None


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) != percentile([], 50)  # NaN


def test_since_accepts_dates_unix_seconds_and_durations() -> None:
    assert parse_since(None) == 0
    assert parse_since("2026-01-31") == 1_769_817_600
    assert parse_since("2026-01-31T12:00") == 1_769_860_800
    assert parse_since("1700000000") == 1_700_000_000
    assert parse_since("6h", now=100_000) == 100_000 - 6 * 3600
    assert parse_since("2d", now=1_000_000) == 1_000_000 - 2 * 86_400
    with pytest.raises(BadInputError, match="--since"):
        parse_since("yesterday")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptosignals", "signals", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.mark.integration
@pytest.mark.e2e
def test_signals_lists_stored_signals_and_explains_a_bad_endpoint(stack_env: LocalStack) -> None:
    coin = "polkadot"
    made = [
        Signal(coin, 1_700_000_000 + 300 * i, SignalType.BUY, "rsi_reversal", "5m", 4.0 + i, 0.5)
        for i in range(5)
    ]
    Store(AwsSettings.from_env()).put_signals(made)
    env = stack_env.environment()
    listed = _cli(env, "--coin", coin, "--format", "jsonl", "--since", "1700000600")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["signal_id"] for line in listed.stdout.splitlines()] == [
        s.signal_id for s in made[2:]
    ]
    newest = _cli(env, "--coin", coin, "--limit", "2")
    assert newest.returncode == 0 and "2 signals (polkadot)" in newest.stdout
    assert "2023-11-14 22:33" in newest.stdout and "rsi_reversal" in newest.stdout

    missing = _cli({**env, "SIGNALS_TABLE": "no_such_table"}, "--coin", coin)
    assert missing.returncode == 2
    assert "'no_such_table'" in missing.stderr and "does not exist" in missing.stderr
    dead = _cli({**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "--coin", coin)
    assert dead.returncode == 2 and "cannot reach http://127.0.0.1:9" in dead.stderr
    assert "Traceback" not in dead.stderr + missing.stderr


@pytest.mark.e2e
def test_local_up_is_a_subcommand_of_the_main_command() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "--help"], capture_output=True, text=True
    )
    assert listed.returncode == 0 and "local" in listed.stdout
    for command in ("signals", "cost", "demo"):
        assert command in listed.stdout
    up = subprocess.run(
        [sys.executable, "-m", "cryptosignals", "local", "up", "--help"],
        capture_output=True,
        text=True,
    )
    assert up.returncode == 0, up.stderr
    assert "--replay" in up.stdout and "--port" in up.stdout
