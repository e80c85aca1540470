"""Train: one group of coins -> a report per coin and job, and an artifact where it was earned.

Invoked by the training state machine's Map state, one group of coins per invocation:

    {"coins": ["bitcoin", "ethereum"], "run": "2026-12-01T03:00:00Z",
     "target": "up_1h", "model": "logistic",           # optional (these defaults)
     "jobs": ["p_up", "metalabel", "volatility"]}      # optional (all; a drift alarm: volatility)

For each coin: its candle history from the models bucket (history/, a backfill), bitcoin's too
for the other coins' `btc_ret_12`; per job the walk-forward judgement and the gate
(cryptosignals.models.training: `train_coin` for P(up), `train_metalabel` for the meta-label
filter of the rules' signals, `refit_volatility` for the volatility forecast); the report
always, the artifact only if earned (MODELS_BUCKET, layout in that module). A coin that fails
(S3, a bad file) does not stop the others; the invocation then fails naming them, so the
execution fails and the alarm on it fires. This module runs in the training image only: the
process function never imports it.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from cryptosignals.aws import AwsSettings, clients
from cryptosignals.candles import Candles
from cryptosignals.errors import BadInputError
from cryptosignals.models.training import (
    JOBS,
    CoinOutcome,
    ModelsBucket,
    TrainingSettings,
    refit_volatility,
    run_id,
    train_coin,
    train_metalabel,
)

logger = Logger()
metrics = Metrics()

MODELS_BUCKET = "MODELS_BUCKET"
FITTED_MODELS = "FITTED_MODELS"  # the process function's models file: what a refit must beat


def _coins(event: dict[str, Any]) -> list[str]:
    coins = event.get("coins")
    if not isinstance(coins, list) or not coins or not all(isinstance(c, str) for c in coins):
        raise BadInputError('the event must name its coins: {"coins": ["bitcoin", ...]}')
    return list(dict.fromkeys(c.strip() for c in coins if c.strip()))


def _jobs(event: dict[str, Any]) -> tuple[str, ...]:
    jobs = event.get("jobs", list(JOBS))
    if not isinstance(jobs, list) or not jobs or not set(jobs) <= set(JOBS):
        raise BadInputError(f"jobs must be a non-empty list of {', '.join(JOBS)}, not {jobs!r}")
    return tuple(j for j in JOBS if j in jobs)


def _judged(
    job: str,
    coin: str,
    candles: Candles | None,
    bucket: ModelsBucket,
    settings: TrainingSettings,
    bitcoin: Candles | None,
    run: str,
) -> CoinOutcome:
    """One job of one coin, judged (not stored yet)."""
    if job == "volatility":
        fitted = os.environ.get(FITTED_MODELS, "").strip() or None
        served, served_as = bucket.served_volatility(coin, fitted)
        return refit_volatility(coin, candles, served, served_as, run)
    if job == "metalabel":
        return train_metalabel(coin, candles, bitcoin, run)
    return train_coin(coin, candles, settings, None if coin == "bitcoin" else bitcoin, run)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    coins = _coins(event)
    jobs = _jobs(event)
    settings = TrainingSettings.from_event(event)
    run = run_id(event.get("run"))
    bucket_name = os.environ.get(MODELS_BUCKET, "").strip()
    if not bucket_name:
        raise BadInputError(f"environment variable {MODELS_BUCKET} is not set (see template.yaml)")
    bucket = ModelsBucket(clients("s3", AwsSettings.from_env()), bucket_name)
    bitcoin: Candles | None = None
    if {"p_up", "metalabel"} & set(jobs) and any(c != "bitcoin" for c in coins):
        try:
            bitcoin = bucket.history("bitcoin")
        except BadInputError as exc:
            logger.warning("bitcoin's history not used", extra={"reason": str(exc)})
    results: dict[str, Any] = {}
    failed: list[str] = []
    counts = dict.fromkeys(("ModelsEarned", "ModelsNotEarned", "CoinsNotEvaluated"), 0)
    withdrawn = 0
    for coin in coins:
        reason = None
        try:
            candles = bucket.history(coin)
        except BadInputError as exc:  # a bad history file: reported, the others go on
            candles, reason = None, f"history unusable: {exc}"
        for job in jobs:
            try:
                outcome = _judged(job, coin, candles, bucket, settings, bitcoin, run)
                report = outcome.report
                if reason is not None:
                    report["reason"] = reason
                store = bucket.store if job == "p_up" else bucket.store_kind
                keys = store(outcome, run)
            except Exception:
                logger.exception("training failed", extra={"crypto_id": coin, "job": job})
                failed.append(f"{coin} ({job})")
                continue
            if outcome.earned:
                counts["ModelsEarned"] += 1
            elif report["verdict"] == "not evaluated":
                counts["CoinsNotEvaluated"] += 1
            else:
                counts["ModelsNotEarned"] += 1
            withdrawn += len(keys["withdrawn"])
            logger.info(
                "coin trained",
                extra={"crypto_id": coin, "job": job, "verdict": report["verdict"],
                       "earned": outcome.earned, "reason": report["reason"],
                       "report": keys["report"]},
            )  # fmt: skip
            entry = {"verdict": report["verdict"], "earned": outcome.earned, **keys}
            results.setdefault(coin, {})[job] = entry
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.add_metric(name="ArtifactsWithdrawn", unit=MetricUnit.Count, value=withdrawn)
    metrics.add_metric(name="TrainingFailures", unit=MetricUnit.Count, value=len(failed))
    if failed:
        raise RuntimeError(f"training failed for {', '.join(failed)} (the others are stored)")
    return {"run": run, "target": settings.target, "model": settings.model, "coins": results}
