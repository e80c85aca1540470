"""The real command line, end to end, as a user runs it."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptosignals", *args], capture_output=True, text=True, timeout=120
    )


def test_analyze_jsonl_is_deterministic_byte_for_byte() -> None:
    first = run("analyze", "--coin", "ethereum", "--format", "jsonl")
    second = run("analyze", "--coin", "ethereum", "--format", "jsonl")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(rows) > 100
    assert set(rows[0]) == {"signal_id", "crypto_id", "timestamp", "signal_type", "rule",
                            "timeframe", "price", "confidence_score", "details",
                            "evaluation_horizon", "evidence", "actionable"}  # fmt: skip
    assert "Signals by rule" in first.stderr  # the summary goes to stderr


def test_analyze_reads_a_user_file_and_writes_csv(tmp_path: Path) -> None:
    from cryptosignals.candles import sample_path

    source = sample_path("cardano")
    result = run("analyze", "--input", str(source), "--coin", "cardano", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("signal_id,crypto_id,timestamp,signal_type")
    assert len(lines) > 100


def test_a_bad_file_gives_one_clear_line_and_exit_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n1700000000000,1,2,0.5,x,3\n")
    result = run("analyze", "--input", str(bad), "--coin", "bitcoin")
    assert result.returncode == 2
    assert f"{bad}:2: close is not a number: 'x'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run("analyze", "--input", str(tmp_path / "nope.csv"), "-c", "bitcoin")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_unknown_options_are_usage_errors() -> None:
    result = run("analyze", "--format", "xml")
    assert result.returncode == 2 and "xml" in result.stderr


def test_the_console_script_and_module_are_the_same_command() -> None:
    script = Path(sys.executable).with_name("cryptosignals")
    via_script = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert via_script.returncode == 0
    assert via_script.stdout == run("--help").stdout


@pytest.mark.slow
@pytest.mark.integration
def test_demo_summarises_the_four_sample_coins() -> None:
    """A day of the four coins through the whole local pipeline (about 15 s)."""
    result = run("demo", "--no-serve", "--days", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") == 3
    }
    assert rows["ticks in (sent by ingest)"] == "1,152"  # 288 five-minute ticks x 4 coins
    assert rows["raw items (crypto_raw_data)"] == "1,152"
    assert rows["aggregates (crypto_aggregated_data)"] == "16"  # 4 windows x 4 coins
    assert rows["dead-lettered records"] == "0"
    stored = int(rows["signals stored (trading_signals: every firing)"].replace(",", ""))
    assert stored > 0
    # Only what earned it goes on the bus: a day of real data earns no rule an alert.
    assert rows["signals seen on the bus (actionable only)"] == "0"
    assert rows["actionable signals (their record earned it)"] == "0"
    assert re.fullmatch(r"[\d,]+ ms / [\d,]+ ms", rows["end-to-end latency p50 / p99"])
    assert f"{stored} signals on 4 coins" in out
    assert "Latest 8 actionable signals on the bus" in out
    assert "Latest signals stored, with their rule's record" in out
    risk = [line.split("│")[1:-1] for line in out.split("Risk now", 1)[1].splitlines()
            if line.count("│") == 8]  # fmt: skip
    assert sorted(r[0].strip() for r in risk) == ["bitcoin", "cardano", "ethereum", "solana"]
    for row in risk:
        assert row[1].strip() in ("calm", "normal", "volatile", "turbulent")
        sigma, var99 = (float(row[k].strip().rstrip("%")) for k in (2, 3))
        assert 0 < sigma < var99 < 20
        low, high = (float(v.replace(",", "")) for v in row[6].split(" - "))  # the 30m fan
        assert 0 < low < high < low * (1 + 3 * sigma / 100)


def test_the_catalogues_list_every_registered_rule_and_indicator() -> None:
    from cryptosignals.indicators import INDICATORS
    from cryptosignals.rules import RULES

    rules = run("rules")
    indicators = run("indicators")
    assert rules.returncode == indicators.returncode == 0
    assert all(name in rules.stdout for name in RULES)
    assert all(name in indicators.stdout for name in INDICATORS)


def test_analyze_takes_the_coin_from_a_file_name_and_refuses_to_guess(tmp_path: Path) -> None:
    from cryptosignals.candles import sample_path

    named = tmp_path / "ethereum_5m.csv.gz"
    named.write_bytes(sample_path("ethereum").read_bytes())
    result = run("analyze", "--input", str(named), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert {json.loads(line)["crypto_id"] for line in result.stdout.splitlines()} == {"ethereum"}
    short = run("analyze", "-c", "solana", "-i", str(named), "--format", "jsonl", "--limit", "1")
    assert json.loads(short.stdout.splitlines()[0])["crypto_id"] == "solana"  # -c wins
    anonymous = tmp_path / "prices.csv.gz"
    anonymous.write_bytes(named.read_bytes())
    refused = run("analyze", "--input", str(anonymous))
    assert refused.returncode == 2 and "pass --coin" in refused.stderr


def test_analyze_actionable_only_keeps_just_the_signals_that_earned_it() -> None:
    every = run("analyze", "--coin", "bitcoin", "--format", "jsonl").stdout.splitlines()
    only = run("analyze", "--coin", "bitcoin", "--format", "jsonl", "--actionable-only")
    assert only.returncode == 0, only.stderr
    kept = [json.loads(line) for line in only.stdout.splitlines()]
    assert kept == [row for row in map(json.loads, every) if row["actionable"]]


def test_evidence_builds_the_warm_start_and_refuses_what_would_not_describe_the_stream(
    tmp_path: Path,
) -> None:
    from cryptosignals.candles import read_candles, sample_path

    five = tmp_path / "solana_5m.csv.gz"
    five.write_bytes(sample_path("solana").read_bytes())
    out = tmp_path / "history.json"
    built = run("evidence", "--input", str(five), "--out", str(out))
    assert built.returncode == 0, built.stderr
    history = json.loads(out.read_text())
    assert history["horizon"] == "1h" and history["cost_bps"] == 10.0
    records = history["coins"]["solana"]["records"]["records"]
    assert sum(r[0] for r in records.values()) > 500  # scored outcomes over three weeks
    assert "Track records at 1h" in built.stderr

    candles = read_candles(five)
    hourly = tmp_path / "solana_1h.csv.gz"
    with gzip.open(hourly, "wt") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for i in range(0, len(candles), 12):
            f.write(f"{candles.timestamp[i]},{candles.open[i]},{candles.high[i]},"
                    f"{candles.low[i]},{candles.close[i]},{candles.volume[i]}\n")  # fmt: skip
    refused = run("evidence", "--input", str(hourly), "--out", str(out))
    assert refused.returncode == 2 and "60 minutes" in refused.stderr
    twice = run("evidence", "-i", str(five), "-i", str(five), "--out", str(out))
    assert twice.returncode == 2 and "one file per coin" in twice.stderr
