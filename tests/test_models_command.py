"""`cryptosignals evaluate` and `train` end to end: the real command line on the bundled samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import Engine
from cryptosignals.features import FEATURE_NAMES, model_features
from cryptosignals.predict import load_predictor

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cryptosignals", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_evaluate_reports_the_walk_forward_against_the_base_rate(tmp_path: Path) -> None:
    page = tmp_path / "model.html"
    result = run("evaluate", "-c", "solana", "--target", "up_30m", "--model", "lightgbm",
                 "--format", "json", "--html", str(page))  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"auc", "brier", "brier_base_rate", "log_loss", "log_loss_base_rate", "n_test",
            "folds", "verdict", "versus_logistic", "suspicious_features"} <= set(out)  # fmt: skip
    assert out["suspicious_features"] == {}
    assert (out["coin"], out["model"], out["target"]) == ("solana", "lightgbm", "up_30m")
    assert out["n_test"] == sum(f["n_test"] for f in out["folds"]) > 2000
    assert 0.4 < out["auc"] < 0.6 and 0.2 < out["brier_base_rate"] < 0.26
    verdict = out["verdict"]
    low, high = verdict["brier_difference_interval"]
    assert low <= verdict["brier_difference"] <= high
    assert verdict["beats_base_rate"] == (high < 0)
    assert all(f["n_purged"] == 6 for f in out["folds"])  # 30 minutes of 5-minute labels
    text = page.read_text()
    assert "<svg" in text and "Reliability" in text and "base rate" in text


@pytest.mark.slow
def test_train_writes_an_artifact_the_stream_serves(tmp_path: Path) -> None:
    files = [str(sample_path(c)) for c in ("bitcoin", "cardano")]
    result = run("train", "--input", files[0], files[1], "--out", str(tmp_path / "models"))
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "models").glob("*.json"))
    assert [p.name.split("_up_1h_logistic_")[0] for p in written] == ["bitcoin", "cardano"]
    artifact = json.loads(written[1].read_text())
    assert artifact["features"] == list(FEATURE_NAMES) and artifact["target"] == "up_1h"
    assert artifact["code_version"] and artifact["out_of_sample"]["folds"]
    assert artifact["training"]["start"] < artifact["training"]["end"]
    predictor = load_predictor(written[1])
    candles = read_candles(sample_path("cardano"))
    x = model_features(Engine("cardano").feed(candles_to_ticks("cardano", candles)).bars)
    p = predictor.predict(x)
    assert p.shape == (len(x),) and np.all((p > 0) & (p < 1))
    # cardano was fitted with bitcoin's last hour as a feature (bitcoin's file was among them)
    assert artifact["params"]["scale"][FEATURE_NAMES.index("btc_ret_12")] != 1.0


def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    bad_target = run("evaluate", "-c", "bitcoin", "--target", "up_1x")
    assert bad_target.returncode == 2 and "unknown target" in bad_target.stderr
    assert len(bad_target.stderr.strip().splitlines()) == 1
    short = run("evaluate", "-c", "bitcoin", "--train-days", "30")
    assert short.returncode == 2 and "no fold" in short.stderr
