"""The benchmark still runs and its libraries still agree (small data; figures in the docs)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "backtest.py"
_SPEC = importlib.util.spec_from_file_location("benchmarks_backtest", _PATH)
assert _SPEC and _SPEC.loader
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["benchmarks_backtest"] = bench
_SPEC.loader.exec_module(bench)


def test_the_benchmark_year_is_a_seeded_year_of_real_shaped_5m_bars() -> None:
    year = bench.make_year(1)
    assert len(year) == 105_120
    assert np.all(np.diff(year.timestamp) == 300_000)
    assert np.all((year.low <= np.minimum(year.open, year.close)) &
                  (year.high >= np.maximum(year.open, year.close)))  # fmt: skip
    assert np.array_equal(year.close, bench.make_year(1).close)
    assert not np.array_equal(year.close, bench.make_year(2).close)


@pytest.mark.slow
def test_the_benchmark_runs_and_checks_agreement(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("backtesting")
    code = bench.main(["--bars", "15000", "--bt-pairs", "2", "--repeat", "1", "--skip", "vectorbt"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "backtesting.py: 2 pairs" in out and "(ok)" in out
