"""`cryptosignals backtest | scorecard | optimize`, end to end through the real command line."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cryptosignals.backtest import Backtest, BacktestConfig
from cryptosignals.candles import read_candles, sample_path
from cryptosignals.rules import MACrossover

pytestmark = pytest.mark.e2e


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cryptosignals", *args], capture_output=True, text=True, timeout=120
    )


def test_backtest_json_carries_the_figures_of_the_python_api() -> None:
    result = run("backtest", "--coin", "bitcoin", "--strategy", "ma_cross", "--param", "fast=5",
                 "--param", "slow=30", "--fee-bps", "10", "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("total_return", "n_trades", "final_equity", "max_drawdown", "sharpe",
                "buy_and_hold_return", "trades"):  # fmt: skip
        assert key in data
    api = Backtest(read_candles(sample_path("bitcoin")), [MACrossover(5, 30)],
                   BacktestConfig(fee_bps=10)).run()  # fmt: skip
    assert data["final_equity"] == pytest.approx(api.metrics.final_equity, rel=1e-12)
    assert data["total_return"] == pytest.approx(data["final_equity"] / 10_000 - 1)
    assert data["n_trades"] == len(data["trades"]) == len(api.trades)
    assert data["buy_and_hold_return"] == pytest.approx(api.buy_and_hold.total_return)


def test_backtest_long_only_with_a_file_writes_a_self_contained_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = run("backtest", "--input", str(sample_path("solana")), "--coin", "solana",
                 "--strategy", "rsi_reversal", "--long-only", "--stop-loss-pct", "2",
                 "--sizing", "atr", "--html", str(report))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Sharpe" in result.stdout and "buy and hold" in result.stdout
    page = report.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert not re.search(r"(src|href)=\"https?:", page)  # nothing loaded from the network
    assert "Trades (" in page and "short" not in page.split("Trades (", 1)[1]


def test_a_combination_of_rules_trades_their_votes() -> None:
    result = run("backtest", "--strategy", "ma_cross,rsi_reversal", "--param", "ma_cross.fast=8",
                 "--param", "period=10", "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["strategy"] == "ma_crossover+rsi_reversal"
    assert data["params"]["ma_crossover"] == {"fast": 8, "slow": 30}
    assert data["params"]["rsi_reversal"]["period"] == 10
    from cryptosignals.rules import RSIReversal

    api = Backtest(read_candles(sample_path("bitcoin")), [MACrossover(8, 30), RSIReversal(10)],
                   BacktestConfig(fee_bps=10)).run()  # fmt: skip
    assert data["final_equity"] == pytest.approx(api.metrics.final_equity, rel=1e-12)


def test_scorecard_json_rows_per_rule_and_horizon(tmp_path: Path) -> None:
    page = tmp_path / "card.html"
    result = run("scorecard", "--coin", "ethereum", "--format", "json", "--html", str(page),
                 "--shifts", "99", "--placebo", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = data["rows"]
    assert {r["horizon"] for r in rows} == {"5m", "30m", "1h", "4h", "24h"}
    assert {"p_value", "q_value", "mean_net", "edge", "against"} <= set(rows[0])
    assert data["placebo"]["runs"] == 2 and 0 <= data["placebo"]["false_positive_rate"] <= 1
    assert data["calibration"]["BUY/SELL"]["n"] > 100
    assert "Is the confidence a probability?" in page.read_text()
    assert {"ma_crossover", "rsi_reversal"} <= {r["rule"] for r in rows}
    assert "<svg" in page.read_text()


def test_optimize_walk_forward_reports_in_and_out_of_sample() -> None:
    result = run("optimize", "--coin", "bitcoin", "--strategy", "ma_cross", "--grid",
                 "fast=5,10", "--grid", "slow=20,50", "--walk-forward", "7d:3d",
                 "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["method"] == "grid" and len(data["folds"]) >= 3
    fold = data["folds"][0]
    assert {"in_sample_score", "out_of_sample_score", "params"} <= set(fold)
    table = run("optimize", "--coin", "bitcoin", "--grid", "fast=5:15:5", "--grid",
                "slow=30,60", "--method", "bayes", "--trials", "8")  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "fast=" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backtest", "--strategy", "moonshot"], "unknown strategy"),
        (["backtest", "--param", "fastest=3"], "unknown parameter"),
        (["backtest", "--strategy", "ma_cross", "--param", "rsi.period=3"], "is not one of"),
        (["backtest", "--param", "fast=abc"], "not a number"),
        (["optimize", "--grid", "fast=5,10", "--walk-forward", "30d:10d"], "too little data"),
        (["optimize", "--grid", "fast=50", "--grid", "slow=20"], "no valid parameter set"),
        (["backtest", "--coin", "dogecoin"], "no bundled sample"),
        (["backtest", "--strategy", "bollinger_breakout", "--param", "nbdev=50"], "no BUY or SELL"),
        (["scorecard", "--shifts", "3"], "--shifts"),
        (["backtest", "--strategy", "rsi_reversal", "--param", "period=1"], "period must be"),
        (["backtest", "--strategy", "macd_momentum", "--param", "signal=1"], "signal must be"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_too_few_candles_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "short.csv.gz"
    candles = read_candles(sample_path("bitcoin"))[:25]
    with gzip.open(path, "wt") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for row in zip(candles.timestamp, candles.open, candles.high, candles.low, candles.close,
                       candles.volume, strict=True):  # fmt: skip
            f.write(",".join(str(v) for v in row) + "\n")
    result = run("backtest", "--input", str(path), "-c", "bitcoin", "--param", "fast=5",
                 "--param", "slow=30")  # fmt: skip
    assert result.returncode == 2 and "too few" in result.stderr


def test_walk_forward_warms_up_for_the_valid_grid_points_only() -> None:
    """fast=40 pairs with no slow here (40 >= 35): only valid points set the warm-up."""
    args = ["optimize", "--grid", "fast=5,40", "--grid", "slow=30,35", "--walk-forward", "7d:2d"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "out-of-sample" in result.stdout
