"""The indicator benchmark runs end to end on a small series (a smoke test, not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], timeout: int = 600) -> str:
    """Run a benchmark as a user would (from the repository root); its stdout if it succeeded."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _run_quick(script: str, tmp_path: Path, *options: str) -> tuple[str, Any]:
    """A benchmark's `--quick` run where no shared data is (it must say it fell back to the
    bundled samples): its stdout and its `--json` figures."""
    figures = tmp_path / f"{script}.json"
    stdout = _run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--quick",
         "--data", str(tmp_path / "no-such-folder"), *options, "--json", str(figures)]
    )  # fmt: skip
    assert "bundled" in stdout.splitlines()[0], stdout
    return stdout, json.loads(figures.read_text())


@pytest.mark.slow
def test_indicator_benchmark_runs_and_prints_the_totals(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    stdout = _run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "indicators.py"),
            "--bars",
            "20000",
            "--repeat",
            "2",
            "--json",
            str(figures),
        ]
    )
    assert any(line.startswith("TOTAL ours ") for line in stdout.splitlines()), stdout
    data = json.loads(figures.read_text())
    assert data["bars"] == 20000
    assert data["agrees_with_talib"] is True
    assert len(data["rows"]) == 13
    assert all(row["ours_s"] > 0 and row["talib_s"] > 0 for row in data["rows"])
    assert data["totals"]["ta_s"] > 0


@pytest.mark.slow
def test_evidence_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    figures, plot = tmp_path / "evidence.json", tmp_path / "reliability.svg"
    stdout = _run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "evidence.py"),
            "--quick",
            "--data",
            str(tmp_path / "no-such-folder"),
            "--json",
            str(figures),
            "--plot",
            str(plot),
        ]
    )
    assert "bundled" in stdout.splitlines()[0], stdout
    data = json.loads(figures.read_text())
    assert set(data) >= {"data", "scorecard", "calibration", "actionable", "records_reproduced"}
    assert data["data"]["coins"] == ["bitcoin", "ethereum", "solana", "cardano"]
    assert data["records_reproduced"] is True  # the benchmark's outcomes are the stream's
    pooled = data["scorecard"]["pooled"]
    assert pooled["directional"]["cells"] > 0 and pooled["alert"]["cells"] > 0
    assert pooled["placebo"]["cells"] > 0
    assert 0.0 <= pooled["placebo"]["false_positive_rate"] <= 0.2
    for claims in ("directional", "alert"):
        calibration = data["calibration"][claims]
        assert calibration["n"] > 100
        assert 0.0 <= calibration["ece"] <= 1.0
        assert 0.0 <= calibration["brier"] <= 1.0 and 0.0 <= calibration["brier_base_rate"] <= 1.0
        assert -1.0 <= calibration["spearman"] <= 1.0
        assert len(calibration["bins"]) == 10
    actionable = data["actionable"]
    assert set(actionable["coins"]) == set(data["data"]["coins"])
    walk = actionable["random_walk"]["directional"]
    assert walk["per_coin_per_30_days"] <= 1.0
    (overreacting,) = actionable["overreacting"]
    assert overreacting["first_rsi_reversal_day"] < 30
    assert overreacting["directional"]["mean_bp"] > 0
    assert plot.read_text().startswith("<svg")


@pytest.mark.slow
def test_risk_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    _, data = _run_quick("risk", tmp_path, "--kinds", "ewma")
    assert data["coins"] == ["bitcoin", "ethereum"]
    one_hour = data["summary"]["ewma"]["fhs"]["1h_var_99"]
    assert 0 <= one_hour["pass_share"] <= 1 and 0 <= one_hour["median_rate"] < 0.2
    assert data["stream"]["cpu_ms_per_bar"] > 0 and 0 < data["stream"]["state_bytes"] < 1024


def test_forecast_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    _, data = _run_quick("forecast", tmp_path)
    assert data["coins"] == ["bitcoin", "ethereum"]
    for coin in data["coins"]:
        for h in ("5m", "15m", "30m"):
            calibrated = data["results"][coin][h]["calibrated"]
            assert calibrated["n"] > 5000 and abs(calibrated["coverage"] - 0.8) < 0.02
            assert 0 < calibrated["mean_width"] < 0.05
            assert 0.5 < data["results"][coin][h]["uncalibrated"]["coverage"] < 1
    assert data["stream"]["cpu_ms_per_bar"] > 0 and 0 < data["stream"]["state_bytes"] < 1500


def test_structure_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    _, data = _run_quick("structure", tmp_path)
    assert data["real"]["coins"] == ["bitcoin", "ethereum", "solana", "cardano"]
    [planted] = data["planted"]
    assert all(share >= 0.8 for share in planted["found_share"].values()), planted
    for noise in data["noise"]:
        assert all(rate <= 1.0 for rate in noise["per_30d"].values()), noise
    assert data["cost"]["us_per_bar_batch"] > 0 and 0 < data["cost"]["state_zlib_bytes"] <= 1500
    engine = data["engine"]  # questions 13-16's parts in the engine: <= 2 KB of state (issue)
    assert 0 < engine["added_bytes"] <= 2048 and engine["with"]["ms_per_tick"] > 0
    assert set(data["real"]["forward_1h"]) == {
        "double_top", "double_bottom", "head_shoulders", "inverse_head_shoulders",
    }  # fmt: skip


def test_market_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    _, data = _run_quick("market", tmp_path, "--boot", "200")
    assert data["data"]["coins"] == ["bitcoin", "ethereum", "solana", "cardano"]
    assert set(data["coins"]) == {"ethereum", "solana", "cardano"}
    for row in data["coins"].values():
        assert 0.5 < row["beta_p10_p50_p90"][1] < 2.5 and 0 <= row["btc_driven_share"] <= 1
    assert 0.25 < data["pc1_share_p5_p25_p50_p75_p95"][2] <= 1
    assert data["null"]["alerts_per_day"] >= 0 and "after_alert" in data
    assert len(data["after_alert_by_half"]) == 2
    assert 0.8 <= data["placebo"]["coverage_of_95ci"] <= 1.0
    assert data["cost"]["market20_state_zlib_bytes"] <= 2048
    assert data["cost"]["beta_us_per_bar"] > 0 and data["cost"]["market_us_per_bar"] > 0
    assert data["alert_signals"]["signals"] == 0  # 4 coins: a breadth alert needs 5
    assert 0 < data["cost"]["signals20_state_zlib_bytes"] < 1024
    assert [n["kind"] for n in data["alert_signals_null"]] == ["independent", "one_factor"]
    assert all(n["signals"] > 0 and n["cells"] > 0 for n in data["alert_signals_null"])


@pytest.mark.slow
def test_models_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    stdout, data = _run_quick("models", tmp_path)
    assert any(line.startswith("TOTAL wall time") for line in stdout.splitlines())
    assert data["data"]["coins"] == ["bitcoin", "ethereum"]
    rows = data["targets"]["up_1h"]["coins"]["ethereum"]
    assert [r["model"] for r in rows] == ["logistic", "lightgbm"]
    for r in rows:
        assert 0.3 < r["auc"] < 0.7 and r["n_test"] > 2000
        assert r["brier_difference_interval"][0] <= r["brier_difference_interval"][1]
    assert "versus_logistic" in rows[1]
    null = data["null"]["targets"]["up_1h"]
    assert all(abs(r["auc"] - 0.5) < 0.06 for r in null.values())


@pytest.mark.slow
def test_metalabel_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    stdout, data = _run_quick("metalabel", tmp_path)
    assert any(line.startswith("TOTAL wall time") for line in stdout.splitlines())
    assert data["data"]["coins"] == ["bitcoin", "ethereum"]
    coins = data["models"]["logistic"]["coins"]
    assert set(coins) == {"bitcoin", "ethereum", "pooled"}
    assert coins["pooled"]["n"] == coins["bitcoin"]["n"] + coins["ethereum"]["n"] > 1000
    lift = coins["pooled"]["net_bp_lift"]
    assert lift["low"] <= lift["value"] <= lift["high"]
    assert data["null"]["walks"] == 3 and data["null"]["net_lift_interval_holds_0"] >= 2 / 3


@pytest.mark.slow
def test_drift_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    _, data = _run_quick("drift", tmp_path)
    assert data["coins"] == ["bitcoin", "ethereum"]
    assert data["null"]["moves"]["per_30_days"] <= 1 and data["null"]["iid_moves"]["alarms"] <= 8
    assert all(d is not None and d < 288 for d in
               data["planted"]["volatility_doubling_stale_sigma_bars"])  # fmt: skip
    for coin in data["coins"]:
        for target in ("up_1h", "volatility"):
            learners = data["real"][coin][target]["learners"]
            assert [s["name"] for s in learners] == ["scheduled", "on_alarm", "online"]
    assert data["stream"]["state_bytes"] < 1024 and data["stream"]["cpu_ms_per_value"] > 0


@pytest.mark.slow
def test_forecast_benchmark_streams_the_engines_sigma_on_the_bundled_samples(
    tmp_path: Path,
) -> None:
    _, data = _run_quick("forecast", tmp_path, "--stream")
    for coin in data["coins"]:
        streamed = data["streamed"][coin]
        assert abs(streamed["30m"]["calibrated"]["coverage"] - 0.8) < 0.02
        assert streamed["engine"]["max_gap_to_batch_fan"] == 0.0
        assert 0 < streamed["engine"]["state_zlib_bytes_max"] < 400


@pytest.mark.slow
def test_training_job_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    stdout, data = _run_quick("training_job", tmp_path)
    assert any(line.startswith("TOTAL wall time") for line in stdout.splitlines())
    assert [r["coin"] for r in data["coins"]] == ["bitcoin", "ethereum"]
    assert all(r["bars"] == 6048 for r in data["coins"])
    for row in data["coins"]:  # three weeks: P(up) is judged; a refit needs 21 days, a filter 35
        assert set(row["jobs"]) == {"p_up", "metalabel", "volatility"}
        assert row["jobs"]["p_up"]["verdict"] != "not evaluated"
        assert set(row["jobs"]["p_up"]["effect"]) == {"value", "low", "high"}
        assert row["jobs"]["metalabel"]["verdict"] == "not evaluated"
    assert data["seconds_per_coin"] > 0 and data["jit"] is False


@pytest.mark.slow
def test_models_serving_benchmark_runs_on_the_bundled_samples(tmp_path: Path) -> None:
    figures = tmp_path / "serving.json"
    stdout = _run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "models.py"),
            "--serving",
            "--data",
            str(tmp_path / "no-such-folder"),
            "--serving-days",
            "7",
            "--serving-bars",
            "12",
            "--json",
            str(figures),
        ]
    )
    assert "bundled" in stdout.splitlines()[0], stdout
    found = json.loads(figures.read_text())["serving"]
    trees = found["models"]["lightgbm"]
    assert trees["trees"] == 200 and trees["rows_compared"] > 2000
    assert trees["max_raw_difference"] < 1e-9 and trees["max_p_difference"] < 1e-6
    assert trees["artifact_bytes"] > found["models"]["logistic"]["artifact_bytes"]
    assert set(found["cpu"]) == {"none", "logistic", "lightgbm"}
    assert all(c["engine_ms_per_bar"] > 0 for c in found["cpu"].values())


def test_train_image_benchmark_reads_the_dockerfile_and_refuses_one_it_cannot_build(
    tmp_path: Path,
) -> None:
    """Its Docker-less build depends on the Dockerfile's shape: checked here (--check-only);
    the build and the run itself install packages, so they are not run in the suite
    (tests/aws/test_runtime_api.py runs the image's handler through its runtime client)."""
    script = str(ROOT / "benchmarks" / "train_image.py")
    stdout = _run([sys.executable, script, "--check-only"])
    assert "pip install /tmp/build[aws,models]" in stdout
    assert "CMD ['cryptosignals.handlers.train.handler']" in stdout
    other = tmp_path / "Dockerfile"
    other.write_text('FROM python:3.12-slim\nRUN pip install .\nCMD ["app.handler"]\n')
    result = subprocess.run(
        [sys.executable, script, "--check-only", "--dockerfile", str(other)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "is not AWS's Lambda Python base image" in result.stderr.strip().splitlines()[-1]
