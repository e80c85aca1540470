"""`cryptosignals risk` end to end: the real command line on the bundled sample."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cryptosignals.candles import sample_path

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", "risk", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_walk_forward_forecasts_and_backtests_come_out_as_json(tmp_path: Path) -> None:
    page = tmp_path / "risk.html"
    result = run("-c", "bitcoin", "--format", "json", "--backtest", "--html", str(page))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["coin"], out["horizon"], out["method"], out["budget"]) == (
        "bitcoin", "1h", "fhs", 0.01,
    )  # fmt: skip
    rows = out["rows"]
    first_day = 1_739_836_800  # the sample starts 2025-02-18 (UTC): 14 days of training first
    assert rows[0]["timestamp"] >= first_day + 14 * 86_400 and rows[0]["timestamp"] % 300 == 0
    assert len(rows) == 7 * 288  # the last 7 days, one forecast a 5-minute bar
    for row in rows:
        assert 0 < row["sigma"] < row["var_95"] < row["var_99"] < 0.2
        assert 0 < row["position_size"] <= 1
        assert row["position_size"] == pytest.approx(min(1.0, 0.01 / row["var_99"]))
    assert set(out["backtest"]) == {"student_t", "cornish_fisher", "fhs", "normal", "historical"}
    assert out["backtest"]["fhs"]["var_99"]["n"] == 7 * 24 - 1  # hourly; the last has no outcome
    assert "<svg" in page.read_text() and "breach" in page.read_text()


@pytest.mark.slow
def test_a_fitted_models_file_forecasts_every_bar_and_serves_other_coins(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    fitted = run("-c", "ethereum", "--fit-out", str(models), "--format", "csv")
    assert fitted.returncode == 0, fitted.stderr
    document = json.loads(models.read_text())
    assert document["default"] == "ethereum" and set(document["coins"]) == {"ethereum"}
    assert set(document["coins"]["ethereum"]) == {"volatility"}
    result = run("-c", "solana", "--models", str(models), "--format", "csv", "--horizon", "4h")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "timestamp,sigma,var_95,var_99,es_975,position_size"
    assert len(lines) - 1 == 21 * 288  # every bar of the three weeks, from the first on


def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    bad = run("-c", "bitcoin", "--horizon", "2h")
    assert bad.returncode == 2 and "unknown horizon '2h'" in bad.stderr
    hourly = tmp_path / "bitcoin_1h.csv.gz"
    with gzip.open(sample_path("bitcoin"), "rt") as src, gzip.open(hourly, "wt") as dst:
        lines = src.read().splitlines()
        dst.write("\n".join([lines[0], *lines[1::12]]) + "\n")
    coarse = run("--input", str(hourly))
    assert coarse.returncode == 2 and "candles every 60 minutes" in coarse.stderr
    junk = tmp_path / "models.json"
    junk.write_text("{}")
    broken = run("-c", "bitcoin", "--models", str(junk))
    assert broken.returncode == 2 and "not a file of fitted models" in broken.stderr
