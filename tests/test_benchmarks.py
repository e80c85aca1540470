"""The indicator benchmark runs end to end on a small series (a smoke test, not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_indicator_benchmark_runs_and_prints_the_totals(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "indicators.py"),
            "--bars",
            "20000",
            "--repeat",
            "2",
            "--json",
            str(figures),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(line.startswith("TOTAL ours ") for line in result.stdout.splitlines()), result.stdout
    data = json.loads(figures.read_text())
    assert data["bars"] == 20000
    assert data["agrees_with_talib"] is True
    assert len(data["rows"]) == 13
    assert all(row["ours_s"] > 0 and row["talib_s"] > 0 for row in data["rows"])
    assert data["totals"]["ta_s"] > 0
