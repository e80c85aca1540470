"""docs/backtesting.md cannot rot: its Python runs, and its example figures are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cryptosignals.backtest import Backtest, BacktestConfig
from cryptosignals.candles import read_candles, sample_path
from cryptosignals.rules import MACrossover

DOC = Path(__file__).resolve().parents[2] / "docs" / "backtesting.md"


def test_the_python_in_the_backtesting_doc_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})


@pytest.mark.parametrize(
    ("fee_bps", "long_only", "total_return", "n_trades", "max_drawdown"),
    [(10, False, -0.3770, 281, 0.3947), (0, False, 0.0917, 281, 0.0828),
     (10, True, -0.2178, 141, 0.2364)],
)  # fmt: skip
def test_the_documented_ma_5_30_bitcoin_figures_hold(
    fee_bps: float, long_only: bool, total_return: float, n_trades: int, max_drawdown: float
) -> None:
    candles = read_candles(sample_path("bitcoin"))
    config = BacktestConfig(fee_bps=fee_bps, long_only=long_only)
    m = Backtest(candles, [MACrossover(5, 30)], config).run("frame").metrics
    assert (round(m.total_return, 4), m.n_trades, round(m.max_drawdown, 4)) == (
        total_return,
        n_trades,
        max_drawdown,
    )
    text = DOC.read_text()
    assert f"{total_return * 100:+.2f} %".replace("+-", "-").lstrip("+") in text
