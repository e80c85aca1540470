"""`cryptosignals backtest`, `scorecard` and `optimize`: options in, the backtest core called,
tables, JSON or an HTML report out. Every problem with the input is a BadInputError."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cryptosignals.candles import Candles, coin_of_file, read_candles, sample_path
from cryptosignals.errors import BadInputError

out = Console(width=max(Console().width, 130))  # tables stay readable when piped
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"


class Method(StrEnum):
    grid = "grid"
    bayes = "bayes"


class Sizing(StrEnum):
    fixed = "fixed"
    atr = "atr"


InputOpt = Annotated[
    Path | None,
    typer.Option("--input", "-i", help="Candle file (CSV, .gz ok); default: the coin's sample."),
]
CoinOpt = Annotated[
    str | None,
    typer.Option(
        "--coin", "-c", help="Coin id, e.g. bitcoin; default: from the file name, or bitcoin."
    ),
]
StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        "-s",
        help="ma_cross or a BUY/SELL rule's name (backtest: several, comma-separated, vote).",
    ),
]
FeeOpt = Annotated[float, typer.Option("--fee-bps", help="Fee per fill, basis points of value.")]
SlipOpt = Annotated[
    float, typer.Option("--slippage-bps", help="Adverse slippage per fill, bps of price.")
]
LongOnlyOpt = Annotated[bool, typer.Option("--long-only", help="SELL means flat, not short.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]


def _candles(path: Path | None, coin: str) -> Candles:
    """The candles of --input, or of the coin's bundled sample."""
    candles = read_candles(path if path is not None else sample_path(coin))
    if len(candles) < 2:
        raise BadInputError(f"{path or coin}: only {len(candles)} candle(s)")
    return candles


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadInputError(f"{what}: {text!r} is not finite")
    return value


def parse_params(items: list[str]) -> dict[str, float]:
    """['fast=5', 'slow=30'] -> {'fast': 5.0, 'slow': 30.0}."""
    params: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BadInputError(f"--param {item!r}: expected NAME=VALUE, e.g. fast=5")
        params[name.strip()] = _number(value.strip(), f"--param {name.strip()}")
    return params


def strategy_rules(strategy: str, params: dict[str, float]) -> list[Any]:
    """'ma_cross' or a combination 'ma_cross,rsi_reversal' -> rules. A parameter NAME goes to
    every rule that has it; RULE.NAME to that rule only. Unused parameters are errors."""
    from cryptosignals.backtest import make_rule
    from cryptosignals.backtest.core import rule_parameters

    names = [n.strip() for n in strategy.split(",") if n.strip()]
    if not names:
        raise BadInputError("--strategy is empty")
    per_rule: dict[str, dict[str, float]] = {n: {} for n in names}
    for key, value in params.items():
        target, dot, name = key.rpartition(".")
        if dot and target not in per_rule:
            raise BadInputError(f"--param {key}: {target!r} is not one of --strategy {strategy}")
        takers = [target] if dot else [n for n in names if name in rule_parameters(n)]
        if not takers:
            known = {n: list(rule_parameters(n)) for n in names}
            raise BadInputError(f"unknown parameter {key!r}; known: {known}")
        for n in takers:
            per_rule[n][name] = value
    return [make_rule(n, p) for n, p in per_rule.items()]


def parse_grid(items: list[str]) -> dict[str, list[float]]:
    """['fast=5,10', 'slow=20:60:10'] -> lists of values (START:STOP:STEP includes STOP)."""
    grid: dict[str, list[float]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise BadInputError(f"--grid {item!r}: expected NAME=V1,V2,... or NAME=START:STOP:STEP")
        if ":" in text:
            parts = [_number(p, f"--grid {name}") for p in text.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise BadInputError(
                    f"--grid {item!r}: START:STOP:STEP needs STEP > 0, STOP >= START"
                )
            count = math.floor((parts[1] - parts[0]) / parts[2] + 1e-9) + 1
            values = [parts[0] + k * parts[2] for k in range(count)]
        else:
            values = [_number(v, f"--grid {name}") for v in text.split(",") if v.strip()]
        grid[name] = values
    return grid


def _config(**kwargs: Any) -> Any:
    from cryptosignals.backtest import BacktestConfig

    return BacktestConfig(**kwargs)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(type(value).__name__)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _day(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%m-%d %H:%M")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def backtest(
    input: InputOpt = None,
    coin: CoinOpt = None,
    strategy: StrategyOpt = "ma_cross",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, repeatable.")
    ] = None,
    fee_bps: FeeOpt = 10.0,
    slippage_bps: SlipOpt = 0.0,
    long_only: LongOnlyOpt = False,
    stop_loss_pct: Annotated[
        float | None, typer.Option("--stop-loss-pct", help="Stop at this % against the entry.")
    ] = None,
    take_profit_pct: Annotated[
        float | None, typer.Option("--take-profit-pct", help="Take profit at this % gain.")
    ] = None,
    sizing: Annotated[
        Sizing, typer.Option("--sizing", help="fixed fraction of equity, or atr-scaled.")
    ] = Sizing.fixed,
    fraction: Annotated[
        float, typer.Option("--fraction", help="Share of equity per position (atr: the cap).")
    ] = 1.0,
    risk_pct: Annotated[
        float, typer.Option("--risk-pct", help="atr sizing: % of equity lost on a 2-ATR move.")
    ] = 1.0,
    cash: Annotated[float, typer.Option("--cash", help="Starting cash, USD.")] = 10_000.0,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    format: FormatOpt = Format.table,
) -> None:
    """Backtest a strategy on candles: trades, equity, figures next to buy-and-hold."""
    from cryptosignals.backtest import Backtest

    coin = coin_of_file(input, coin)
    candles = _candles(input, coin)
    rules = strategy_rules(strategy, parse_params(param or []))
    config = _config(
        fee_bps=fee_bps,
        slippage_bps=slippage_bps,
        long_only=long_only,
        stop_loss=None if stop_loss_pct is None else stop_loss_pct / 100.0,
        take_profit=None if take_profit_pct is None else take_profit_pct / 100.0,
        sizing=sizing.value,
        fraction=fraction,
        risk=risk_pct / 100.0,
        cash=cash,
    )
    result = Backtest(candles, rules, config, coin=coin).run()
    if result.info["signals"] == 0:
        raise BadInputError(
            f"{strategy} gave no BUY or SELL signal in {len(candles)} candles: nothing to backtest"
        )
    if html is not None:
        from cryptosignals.backtest.report import backtest_html

        html.write_text(backtest_html(result, f"Backtest: {coin} {strategy}"), encoding="utf-8")
        err.print(f"report written to {html}")
    if format is Format.json:
        print(json.dumps(_clean(result.to_json()), default=_json_default))
        return
    from cryptosignals.backtest.report import metric_rows

    names = " + ".join(str(r) for r in rules)
    table = Table(title=f"{coin} · {names} · {len(candles):,} bars", title_justify="left")
    table.add_column("")
    table.add_column("strategy", justify="right")
    table.add_column("buy and hold", justify="right")
    for row in metric_rows(result.metrics, result.buy_and_hold):
        table.add_row(*row)
    out.print(table)


def scorecard(
    input: InputOpt = None,
    coin: CoinOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the table and chart as HTML here.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the time shifts.")] = 7,
    shifts: Annotated[
        int, typer.Option("--shifts", help="Circular time shifts behind each p-value.")
    ] = 999,
    cost_bps: Annotated[
        float, typer.Option("--cost-bps", help="Cost per side of a round trip, basis points.")
    ] = 10.0,
    min_n: Annotated[
        int, typer.Option("--min-n", help="Fewest signals for an interval and a p-value.")
    ] = 20,
    placebo: Annotated[
        int,
        typer.Option(
            "--placebo",
            help="Also score N random time shifts of the signals: the false-positive rate.",
        ),
    ] = 0,
    format: FormatOpt = Format.table,
) -> None:
    """Did each rule's claim hold more often than random timing? p- and q-values, net of costs."""
    from cryptosignals.backtest.scorecard import Q_EDGE, Scorecard

    if shifts < 19:
        raise BadInputError("--shifts must be at least 19 (a p-value of 0.05 needs them)")
    if min_n < 2 or cost_bps < 0 or placebo < 0:
        raise BadInputError("--min-n must be >= 2, --cost-bps and --placebo >= 0")
    coin = coin_of_file(input, coin)
    card = Scorecard(
        _candles(input, coin), coin, shifts=shifts, seed=seed, cost_bps=cost_bps, min_n=min_n
    )
    signals = card.signals()
    rows = card.run(signals)
    calibration = card.calibration(signals)
    placebo_result = None
    if placebo:
        with _progress() as bar:
            task = bar.add_task("placebo shifts", total=placebo)
            placebo_result = card.placebo(
                placebo, signals, progress=lambda done: bar.update(task, completed=done)
            )
    if html is not None:
        from cryptosignals.backtest.report import scorecard_html

        page = scorecard_html(rows, f"Signal scorecard: {coin}", calibration)
        html.write_text(page, encoding="utf-8")
        err.print(f"report written to {html}")
    if format is Format.json:
        data: dict[str, Any] = {
            "rows": [r.to_json() for r in rows],
            "calibration": {k: asdict(v) for k, v in calibration.items()},
        }
        if placebo_result is not None:
            data["placebo"] = placebo_result.to_json()
        print(json.dumps(_clean(data)))
        return
    title = (
        f"{coin}: outcomes after signals (bp = 0.01%; net of {2 * cost_bps:g} bp a round trip; "
        f"entry at the first tick after the signal)"
    )
    table = Table(title=title, title_justify="left")
    for name in ("rule", "type", "horizon", "n", "hit", "base", "mean bp [95%]", "net bp",
                 "p", "q", "verdict"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("rule", "type") else "right")

    def bp(v: float) -> str:
        return f"{v * 1e4:+.1f}" if math.isfinite(v) else ""

    for r in rows:
        tested = math.isfinite(r.p_value)
        verdict = (
            "[green]edge[/]" if r.edge else "[red]against[/]" if r.against
            else "" if tested else f"[dim]n < {min_n}[/]"
        )  # fmt: skip
        table.add_row(
            r.rule, r.signal_type, r.horizon, str(r.n),
            f"{r.hit_rate:.0%}", f"{r.baseline_hit_rate:.0%}",
            f"{bp(r.mean_return)} [{bp(r.mean_low)},{bp(r.mean_high)}]" if tested
            else bp(r.mean_return),
            bp(r.mean_net),
            f"{r.p_value:.3f}" if tested else "", f"{r.q_value:.3f}" if tested else "",
            verdict,
        )  # fmt: skip
    out.print(table)
    edges = sum(r.edge for r in rows)
    out.print(
        f"{edges} of {sum(math.isfinite(r.p_value) for r in rows)} tested cells beat random "
        f"timing of the same signals (edge: Benjamini-Hochberg q <= {Q_EDGE:g}), "
        f"{sum(r.against for r in rows)} do worse (against). An edge is not a profit: the net "
        "column says what a follower kept after the round trip."
    )
    for kind, c in calibration.items():
        if c.n:
            out.print(
                f"confidence ({kind}, {c.n} signals with a known outcome): calibration error "
                f"{c.ece:.3f}, Brier {c.brier:.4f} (the base rate each signal carried: "
                f"{c.brier_reference:.4f}, skill {c.skill:+.4f}), rank correlation with the "
                f"outcome {c.spearman:+.3f}"
            )
    if placebo_result is not None:
        p = placebo_result
        out.print(
            f"placebo: {p.runs} time shifts, {p.rejected} of {p.cells} cells at p <= "
            f"{1 - p.level:.2f}: false-positive rate {p.false_positive_rate:.1%} (nominal "
            f"{1 - p.level:.0%}); {p.flagged} flagged at q <= {Q_EDGE:g}"
        )


def optimize(
    input: InputOpt = None,
    coin: CoinOpt = None,
    strategy: StrategyOpt = "ma_cross",
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", "-g", help="NAME=V1,V2,... or NAME=START:STOP:STEP; repeatable."),
    ] = None,
    method: Annotated[Method, typer.Option("--method", help="grid or bayes (optuna).")] = (
        Method.grid
    ),
    walk_forward: Annotated[
        str | None,
        typer.Option("--walk-forward", help="TRAIN:TEST windows, e.g. 7d:2d (bare = days)."),
    ] = None,
    objective: Annotated[str, typer.Option("--objective", help="Figure to maximise.")] = "sharpe",
    trials: Annotated[int, typer.Option("--trials", help="bayes: trials per window.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="bayes: sampler seed.")] = 7,
    fee_bps: FeeOpt = 10.0,
    slippage_bps: SlipOpt = 0.0,
    long_only: LongOnlyOpt = False,
    top: Annotated[int, typer.Option("--top", help="Rows of the ranking to show.")] = 10,
    format: FormatOpt = Format.table,
) -> None:
    """Search a strategy's parameters (grid or Bayesian), optionally walk-forward."""
    from cryptosignals.backtest.search import Search, parse_walk_forward

    coin = coin_of_file(input, coin)
    candles = _candles(input, coin)
    config = _config(fee_bps=fee_bps, slippage_bps=slippage_bps, long_only=long_only)
    search = Search(
        candles, strategy, parse_grid(grid or []), config, objective, method.value, trials, seed
    )
    windows = (
        parse_walk_forward(walk_forward, candles.interval_ms // 1000) if walk_forward else None
    )
    with _progress() as progress:
        task = progress.add_task(f"{method.value} search", total=search.steps(windows))
        result = search.run(windows, lambda k: progress.advance(task, k))
    summary = result.summary()
    if result.ranking and not math.isfinite(result.ranking[0].score):
        raise BadInputError("no parameter set traded at all: nothing to rank")
    if format is Format.json:
        print(json.dumps(_clean(summary)))
        return
    if result.folds:
        table = Table(
            title=f"{coin} · {strategy} · walk-forward {walk_forward} · {objective}",
            title_justify="left",
        )
        for name in ("fold", "train (UTC)", "test (UTC)", "params", f"IS {objective}",
                     f"OOS {objective}", "IS return", "OOS return"):  # fmt: skip
            table.add_column(name, justify="left" if name == "params" else "right", no_wrap=True)
        times = candles.timestamp // 1000

        def span(a: int, b: int) -> str:
            return f"{_day(times[a])}→{_day(times[b - 1] + candles.interval_ms // 1000)}"

        for f in result.folds:
            table.add_row(
                str(f.index), span(f.train_start, f.train_end), span(f.train_end, f.test_end),
                ", ".join(f"{k}={v:g}" for k, v in f.params.items()),
                f"{f.in_score:.2f}", f"{f.out_score:.2f}",
                f"{f.in_sample.total_return:+.2%}", f"{f.out_of_sample.total_return:+.2%}",
            )  # fmt: skip
        out.print(table)

        def mean(key: str) -> str:
            return "n/a" if summary[key] is None else f"{summary[key]:.2f}"

        out.print(
            f"compounded out-of-sample return: {summary['out_of_sample_return']:+.2%}; "
            f"mean {objective}: in-sample {mean('mean_in_sample_score')}, "
            f"out-of-sample {mean('mean_out_of_sample_score')}"
        )
        return
    table = Table(
        title=f"{coin} · {strategy} · {method.value} · in-sample {objective}", title_justify="left"
    )
    for name in ("params", objective, "return", "max dd", "trades", "win rate"):
        table.add_column(name, justify="left" if name == "params" else "right")
    for e in result.ranking[:top]:
        m = e.metrics
        table.add_row(
            ", ".join(f"{k}={v:g}" for k, v in e.params.items()), f"{e.score:.2f}",
            f"{m.total_return:+.2%}", f"{m.max_drawdown:.2%}", str(m.n_trades),
            f"{m.win_rate:.0%}" if math.isfinite(m.win_rate) else "n/a",
        )  # fmt: skip
    out.print(table)
    out.print("in-sample only: use --walk-forward TRAIN:TEST to see out-of-sample results")


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
    app.command("scorecard")(scorecard)
    app.command("optimize")(optimize)
