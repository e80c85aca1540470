"""Question 27 on the local stack: a drift alarm of the stream starts a retrain by itself.

The deployed forecast of the coin is a stale one (a constant sigma, as a model fitted long ago
and never updated would be: the EWMA/GARCH recursion of a fitted model absorbs a level change
within hours, so it would not alarm). The process function's drift monitor sees the coin's
volatility triple; it puts a VolatilityDrift event on the signals bus; the template's
DriftRetrainRule starts the training state machine for that coin alone (its InputTransformer),
whose Choice state takes the named coin; the training function refits the coin's volatility
forecast from its history in the models bucket, judges it on the newest week against the
forecast served now and writes it only if it did better; the process function then serves it.
Every step is the deployed resource, through the emulator. Its own stack: the refit writes a
model the other modules' tests must not see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_training_job import write_candles
from test_training_on_local_stack import _upload_history

from cryptosignals.aws import TickProducer
from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.dynamo import all_items
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.fitted import add_fitted
from cryptosignals.local.stack import LocalStack
from cryptosignals.metafilter import meta_feature_names
from cryptosignals.profile import HOURS_PER_WEEK
from cryptosignals.risk import model_for
from cryptosignals.synthetic import volatility_shift_market

pytestmark = pytest.mark.integration
DAY_BARS = 288


@pytest.fixture(scope="module")
def stale_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models file whose bitcoin forecast is a constant sigma: the generated market's
    long-run 5-minute sigma (0.07 %), no recursion, no hour-of-week profile."""
    path = tmp_path_factory.mktemp("models") / "stale_models.json"
    bundled = model_for("bitcoin")
    assert bundled is not None
    stale = replace(bundled, omega=5e-7, alpha=0.0, beta=0.0, initial_variance=5e-7,
                    seasonal=(1.0,) * HOURS_PER_WEEK)  # fmt: skip
    add_fitted(path, "bitcoin", "volatility", stale.to_json())
    return path


@pytest.fixture(scope="module")
def stack(stale_models: Path) -> Iterator[LocalStack]:
    parameters = {"TrackedCoins": "bitcoin", "FittedModelsFile": str(stale_models)}
    with LocalStack.start(parameters=parameters) as local:
        yield local


def _send(stack: LocalStack, ticks: list[Any]) -> None:
    TickProducer(AwsSettings(stream_name=stack.names["stream"]),
                 client=stack.client("kinesis")).send(ticks)  # fmt: skip
    for poller in stack.pollers():
        poller.drain()


def _logged(stack: LocalStack, message: str) -> list[str]:
    process = stack.names["process_function"]
    return [line for i in stack.runtime.invocations if i.function == process
            for line in i.log_lines if f'"{message}"' in line]  # fmt: skip


@pytest.mark.slow  # two days of ticks through the stream and a refit (~40 s on a loaded machine)
def test_a_drift_alarm_refits_the_coins_volatility_forecast_which_the_stream_then_serves(
    stack: LocalStack, tmp_path: Path
) -> None:
    # 24 days of a GARCH market whose volatility triples on day 23: the history is in the
    # bucket (a backfill); the stream sees the last two days, the change among them
    market = volatility_shift_market(days=24, change_day=23.0, factor=3.0, seed=5)
    _upload_history(stack, write_candles(market.candles, tmp_path / "bitcoin_5m.csv.gz"))
    process = stack.names["process_function"]
    stack.set_function_environment(process, {"MODEL_REFRESH_SECONDS": "0"})  # read every batch
    ticks = candles_to_ticks("bitcoin", market.candles).ticks()
    _send(stack, ticks[22 * DAY_BARS : 24 * DAY_BARS - 12])

    drifted = _logged(stack, "volatility forecast drifted")
    assert drifted, "a tripled volatility is a drift"
    executions = stack.rule_executions.drain()  # the rule's target: the training state machine
    assert executions and all(e.status == "SUCCEEDED" for e in executions), [
        e.error_message for e in executions
    ]
    invoked = [i for e in executions for i in e.invocations]
    assert {i.function for i in invoked} == {stack.names["train_function"]}
    for execution in executions:  # the named coin alone, the volatility job alone
        (group,) = execution.result
        assert group["coins"] == {"bitcoin": group["coins"]["bitcoin"]}
        assert set(group["coins"]["bitcoin"]) == {"volatility"}
    bucket, s3 = stack.names["models_bucket"], stack.client("s3")
    reports = [
        json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/")["Contents"]
    ]
    assert reports and all(r["kind"] == "volatility" for r in reports)
    first = reports[0]
    assert first["served_before"] == "stale_models.json"  # what the stream served
    assert first["verdict"] == "refit forecasts better", first["reason"]
    (served,) = [r["artifact_key"] for r in reports if r["artifact_key"]][-1:]
    assert served.startswith("served/volatility/bitcoin_volatility_")

    # the stream serves the refit from the next batch on (MODEL_REFRESH_SECONDS: 0 here)
    _send(stack, ticks[24 * DAY_BARS - 12 :])
    assert any(served in line for line in _logged(stack, "volatility model"))


@pytest.mark.slow  # two days of real ticks through the stream (~15 s)
def test_a_served_meta_label_filter_reaches_every_signal_of_its_rules_and_withholds_alerts(
    stack: LocalStack,
) -> None:
    """Question 26's serving path: an artifact under served/metalabel/ (made by hand here: a model
    that says 0.5 for every signal, and a threshold above it, so it keeps none) is read by the
    process function from s3://, and every BUY/SELL signal of its rules carries its P, its
    verdict and its version, and is not alerted."""
    rules = ["ma_crossover", "macd_momentum", "price_ma_cross", "rsi_reversal", "trend_slope"]
    width = len(meta_feature_names(rules))
    zeros = [0.0] * width
    artifact = {
        "artifact_version": 1, "coin": "ethereum", "kind": "metalabel", "model": "logistic",
        "rules": rules, "features": list(meta_feature_names(rules)), "threshold": 0.6,
        "params": {"fill": zeros, "indicators": [], "mean": zeros, "scale": [1.0] * width,
                   "coef": zeros, "intercept": 0.0, "calibration": None},
        "training": {"start": 1_740_000_000, "end": 1_750_000_000}, "code_version": "test",
    }  # fmt: skip
    key = "served/metalabel/ethereum_metalabel_20250615.json"
    stack.client("s3").put_object(
        Bucket=stack.names["models_bucket"], Key=key, Body=json.dumps(artifact).encode()
    )
    stack.set_function_environment(stack.names["process_function"], {"MODEL_REFRESH_SECONDS": "0"})
    ticks = candles_to_ticks("ethereum", read_candles(sample_path("ethereum")))[2000:2576]
    _send(stack, ticks.ticks())
    items = all_items(stack.client("dynamodb"), "scan", TableName=stack.names["signals_table"])
    trades = [
        i for i in items
        if i["crypto_id"]["S"] == "ethereum" and i["rule"]["S"] in rules
        and i["signal_type"]["S"] in ("BUY", "SELL")
    ]  # fmt: skip
    assert trades, "two days of ticks make BUY/SELL signals"
    for item in trades:
        details = item["details"]["M"]
        assert float(details["p_profit_first"]["N"]) == 0.5
        assert float(details["meta_kept"]["N"]) == 0.0
        assert item["actionable"]["BOOL"] is False
        assert item["model_version"]["S"] == "ethereum_metalabel_20250615@test"
    assert any(key in line for line in _logged(stack, "meta-label filter"))
