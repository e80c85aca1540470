"""Training as a job (training side): one coin's P(up) model judged walk-forward, and served
only if it earned it.

`train_coin` runs the same walk-forward evaluation as `cryptosignals evaluate`
(cryptosignals.models.evaluation: purged folds, the base rate as the baseline, a day-block
bootstrap verdict) and returns a `CoinOutcome`: always a small report (metrics, verdict, why a
model is or is not served) and an artifact only when the model EARNED it (`earned`: its Brier
score beats the base rate's out of sample, the whole 95 % interval below zero, and the stream
can serve it: logistic or LightGBM). Pure: candles in, plain dicts out; the S3 side is
`ModelsBucket`, and the Lambda handler (cryptosignals.handlers.train) is the glue.

Bucket layout (docs/models.md, "Training in AWS"):

    history/<coin>_5m.csv.gz                         candle history (a backfill: `cryptosignals
                                                     upload-history`)
    served/p_up/<coin>_<target>_<model>_<last day>.json   what the process function serves
    served/volatility/<coin>_volatility_<last day>.json   (one listing of served/ finds all):
    served/metalabel/<coin>_metalabel_<last day>.json     P(up), volatility refits, filters
    reports/<run>/<coin>_<target>_<model>.json       one report per coin and run, always
    reports/<run>/<coin>_volatility.json             (and one per volatility refit,
    reports/<run>/<coin>_metalabel.json               and per meta-label judgement)

`train_metalabel` judges a meta-label filter of the rules' BUY/SELL signals (question 26) and
serves it only if filtering raised the net return per trade out of sample.
`refit_volatility` is the third job (question 27): refit the coin's volatility forecast on
its latest history and serve it only if it forecast the newest week better than the one served
now. The weekly run does both jobs; a drift alarm of the stream starts a run of that coin's
volatility refit alone (template.yaml: DriftRetrainRule).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cryptosignals.artifacts import artifact_day
from cryptosignals.candles import Candles, candles_to_ticks, coin_of_file, read_candles
from cryptosignals.errors import BadInputError
from cryptosignals.fitted import deployed_file
from cryptosignals.predict import SERVED_MODELS
from cryptosignals.risk import RiskForecaster, VolatilityModel, model_for

if TYPE_CHECKING:
    from cryptosignals.models.metalabel import MetaConfig, SignalSet

HISTORY_PREFIX = "history/"
SERVED_PREFIX = "served/"  # the process function's MODELS: one listing finds every kind
ARTIFACT_PREFIX = f"{SERVED_PREFIX}p_up/"
VOLATILITY_PREFIX = f"{SERVED_PREFIX}volatility/"
METALABEL_PREFIX = f"{SERVED_PREFIX}metalabel/"
REPORT_PREFIX = "reports/"
#: What a run can do for a coin: judge and serve its P(up) model and its meta-label filter,
#: refit its volatility forecast.
JOBS = ("p_up", "metalabel", "volatility")
#: The volatility refit: fitted on the last VOLATILITY_TRAIN_DAYS of bars, after its procedure
#: forecast the newest VOLATILITY_JUDGE_DAYS, unseen, better than the forecast served now.
VOLATILITY_TRAIN_DAYS = 30
VOLATILITY_JUDGE_DAYS = 7
DAY = 86_400
#: The models the stream can evaluate (cryptosignals.predict); others are judged, never served.
SERVABLE_MODELS = SERVED_MODELS
#: Out-of-sample days a verdict needs before it can put a model in the stream: the verdict's
#: interval is a bootstrap over UTC days, which says little over a handful of them (over one
#: day it collapses to the point estimate).
MIN_TEST_DAYS = 7
#: History file names tried for a coin, in order (`<coin>_<timeframe>.csv[.gz]`).
HISTORY_NAMES = ("{coin}_5m.csv.gz", "{coin}_5m.csv", "{coin}_1m.csv.gz", "{coin}_1m.csv")


@dataclass(frozen=True)
class TrainingSettings:
    """What one run fits and how it is judged (the event of the training function)."""

    target: str = "up_1h"
    model: str = "logistic"
    cost_bps: float = 0.0
    train_days: float | None = None  # None: as `cryptosignals evaluate` (28, or half short data)
    test_days: float | None = None
    resamples: int = 1000

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> TrainingSettings:
        """The settings an event names (anything missing: the defaults); bad values raise
        BadInputError."""
        from cryptosignals.models.evaluation import MODELS
        from cryptosignals.models.labels import target_seconds

        settings = cls(
            target=str(event.get("target", cls.target)),
            model=str(event.get("model", cls.model)),
            cost_bps=float(event.get("cost_bps", cls.cost_bps)),
            train_days=None if event.get("train_days") is None else float(event["train_days"]),
            test_days=None if event.get("test_days") is None else float(event["test_days"]),
            resamples=int(event.get("resamples", cls.resamples)),
        )
        if settings.model not in MODELS:
            raise BadInputError(f"model {settings.model!r}: one of {', '.join(MODELS)}")
        try:
            target_seconds(settings.target)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        if settings.cost_bps < 0 or settings.resamples < 50:
            raise BadInputError("cost_bps must be >= 0 and resamples >= 50")
        return settings


@dataclass(frozen=True)
class CoinOutcome:
    """One coin's result: the report always, the artifact only if the model earned it."""

    coin: str
    report: dict[str, Any]
    artifact: dict[str, Any] | None

    @property
    def earned(self) -> bool:
        return self.artifact is not None


def earned(verdict: str, model: str, test_days: int) -> bool:
    """The gate: a model is served only if it beats the base rate out of sample (the verdict
    of cryptosignals.models.evaluation) over at least MIN_TEST_DAYS days, and the stream can
    evaluate it."""
    return (
        verdict == "beats the base rate" and test_days >= MIN_TEST_DAYS and model in SERVABLE_MODELS
    )


def artifact_name(artifact: dict[str, Any]) -> str:
    """`<coin>_<target>_<model>_<last training day>.json`, as `cryptosignals train` names it."""
    day = datetime.fromtimestamp(int(artifact["training"]["end"]), UTC).strftime("%Y%m%d")
    return f"{artifact['coin']}_{artifact['target']}_{artifact['model']}_{day}.json"


def _plain(value: Any) -> Any:
    """JSON has no NaN: unknown numbers become null."""
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _not_evaluated(coin: str, report: dict[str, Any], why: str) -> CoinOutcome:
    """A job's outcome for a coin it could not judge: the report says so and why; no artifact."""
    report.update(verdict="not evaluated", earned=False, reason=why)
    return CoinOutcome(coin, _plain(report), None)


def _reason(verdict: str, model: str, test_days: int) -> str:
    if earned(verdict, model, test_days):
        return f"beats the base rate out of sample over {test_days} days: served"
    if verdict == "beats the base rate" and test_days < MIN_TEST_DAYS:
        return (
            f"beats the base rate over only {test_days} out-of-sample days (at least "
            f"{MIN_TEST_DAYS} needed): not served"
        )
    if verdict == "beats the base rate":
        return f"beats the base rate, but the stream serves {', '.join(SERVABLE_MODELS)} only"
    return f"{verdict} out of sample: not served (the base rate is the better forecast)"


def train_coin(
    coin: str,
    candles: Candles | None,
    settings: TrainingSettings = TrainingSettings(),  # frozen: never mutated
    bitcoin: Candles | None = None,
    run: str = "",
) -> CoinOutcome:
    """Judge `settings.model` on the coin's candles walk-forward; fit it on all of them only if
    it earned a place. A coin without history or with too little for one fold gets a report
    that says so (verdict "not evaluated") and no artifact."""
    from cryptosignals.models.evaluation import (
        code_version,
        dataset,
        default_windows,
        evaluate,
        train_artifact,
    )
    from cryptosignals.models.labels import target_seconds
    from cryptosignals.predict import load_predictor

    report: dict[str, Any] = {
        "coin": coin, "run": run, "target": settings.target, "model": settings.model,
        "cost_bps": settings.cost_bps, "code_version": code_version(), "model_version": None,
    }  # fmt: skip

    if candles is None:
        return _not_evaluated(coin, report, "no history for this coin")
    try:
        data = dataset(coin, candles, settings.target, settings.cost_bps / 1e4, bitcoin)
        train, test = default_windows(data.end)
        train = train if settings.train_days is None else settings.train_days
        test = test if settings.test_days is None else settings.test_days
        result = evaluate(
            data.x, data.y, data.end, data.label_end, settings.model, settings.target,
            train_days=train, test_days=test, embargo_s=target_seconds(settings.target),
            resamples=settings.resamples,
        )  # fmt: skip
    except ValueError as exc:
        return _not_evaluated(coin, report, str(exc))
    oos = result.to_json()
    verdict = oos["verdict"]
    days = len(np.unique(result.t // 86_400))
    report.update(
        verdict=result.verdict, earned=earned(result.verdict, settings.model, days),
        reason=_reason(result.verdict, settings.model, days), test_days_count=days,
        auc=oos["auc"], auc_interval=oos["auc_interval"], brier=oos["brier"],
        brier_base_rate=oos["brier_base_rate"], log_loss=oos["log_loss"],
        log_loss_base_rate=oos["log_loss_base_rate"],
        brier_difference=verdict["brier_difference"],
        brier_difference_interval=verdict["brier_difference_interval"],
        n_test=oos["n_test"], folds=len(result.folds),
        folds_beating_base_rate=verdict["folds_beating_base_rate"],
        train_days=train, test_days=test,
        history={"start": int(data.end[0]), "end": int(data.end[-1]), "bars": len(data.end)},
    )  # fmt: skip
    if not report["earned"]:
        return CoinOutcome(coin, _plain(report), None)
    artifact = _plain(train_artifact(data, settings.model, settings.cost_bps / 1e4, result))
    report["model_version"] = load_predictor(artifact).version
    report["artifact"] = artifact_name(artifact)
    return CoinOutcome(coin, _plain(report), artifact)


def kind_artifact_name(artifact: dict[str, Any]) -> str:
    """`<coin>_<kind>_<last training day>.json` (the volatility and meta-label artifacts)."""
    day = datetime.fromtimestamp(int(artifact["training"]["end"]), UTC).strftime("%Y%m%d")
    return f"{artifact['coin']}_{artifact['kind']}_{day}.json"


def train_metalabel(
    coin: str, candles: Candles | None, bitcoin: Candles | None = None, run: str = ""
) -> CoinOutcome:
    """Judge a meta-label filter of the coin's BUY/SELL signals walk-forward
    (cryptosignals.models.metalabel: the engine's own signals, triple-barrier labels, purged
    folds, the share of signals to keep chosen inside each training window) and serve it only
    if it EARNED it: the net return per trade of the signals it keeps beats that of all the
    signals out of sample, the whole 95 % day-block interval of the difference above zero,
    over at least MIN_TEST_DAYS days. The report is the scorecard with and without the
    filter, per rule and pooled, whatever the verdict. The artifact is the logistic model fitted
    on all the signals, with the P threshold of the share chosen on them."""
    from cryptosignals.metafilter import KIND
    from cryptosignals.models.evaluation import code_version
    from cryptosignals.models.metalabel import MetaConfig, evaluate_filter, signal_set, verdict

    config = MetaConfig()
    report: dict[str, Any] = {
        "coin": coin, "run": run, "kind": KIND, "model": config.model,
        "barriers": _barriers(config), "code_version": code_version(),
    }  # fmt: skip

    if candles is None:
        return _not_evaluated(coin, report, "no history for this coin")
    try:
        data = signal_set(coin, candles, config, bitcoin=None if coin == "bitcoin" else bitcoin)
        evaluation = evaluate_filter(data, config)
    except ValueError as exc:
        return _not_evaluated(coin, report, str(exc))
    scorecard = evaluation.figures
    pooled = scorecard["all"]
    lift = pooled["net_bp_lift"]
    effect = verdict(lift)
    days = int(pooled["days"])
    earned = effect == "helps" and days >= MIN_TEST_DAYS
    report.update(
        verdict=f"the filter {effect}" if effect != "no effect" else "the filter has no effect",
        earned=earned,
        reason=(
            f"filtering changed the net return a trade by {lift['value']:+.1f} bp "
            f"[{lift['low']:+.1f}, {lift['high']:+.1f}] over {days} out-of-sample days: "
            + ("served" if earned else "not served")
            + ("" if effect != "helps" or earned else f" (at least {MIN_TEST_DAYS} days needed)")
        ),
        test_days_count=days, signals=len(data), rules=list(data.rules), scorecard=scorecard,
        folds=[vars(f) for f in evaluation.filters],
    )  # fmt: skip
    if not earned:
        return CoinOutcome(coin, _plain(report), None)
    artifact = metalabel_artifact(data, config, {"net_bp_lift": lift, "days": days})
    report["artifact"] = kind_artifact_name(artifact)
    return CoinOutcome(coin, _plain(report), _plain(artifact))


def _barriers(config: MetaConfig) -> dict[str, float]:
    return {"profit_sigma": config.profit, "stop_sigma": config.stop,
            "timeout_s": config.timeout_s, "cost_bps": config.cost_bps}  # fmt: skip


def metalabel_artifact(
    data: SignalSet, config: MetaConfig, out_of_sample: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The filter the stream serves (cryptosignals.metafilter): the logistic model fitted on all
    of a coin's signals, with the P threshold of the share of them to keep chosen on them."""
    from cryptosignals.metafilter import KIND
    from cryptosignals.models.evaluation import code_version, fit_logistic
    from cryptosignals.models.metalabel import _choose_share
    from cryptosignals.predict import ARTIFACT_VERSION

    share = _choose_share(data, np.arange(len(data)), config)
    params = fit_logistic(data.x, data.hit)
    p = params.predict(data.x)
    threshold = 0.0 if share >= 1.0 else float(np.quantile(p, 1.0 - share))
    return {
        "artifact_version": ARTIFACT_VERSION, "coin": data.coin, "kind": KIND,
        "model": "logistic", "rules": list(data.rules), "features": list(data.names),
        "params": params.to_json(), "threshold": threshold, "keep_share": share,
        "barriers": _barriers(config),
        "training": {"start": int(data.t[0]), "end": int(data.t[-1]), "n": len(data),
                     "hit_rate": float(data.hit.mean())},
        "out_of_sample": out_of_sample, "code_version": code_version(),
    }  # fmt: skip


def qlike(sigma: np.ndarray, move: np.ndarray) -> np.ndarray:
    """The QLIKE loss of a volatility forecast at each bar, log(sigma^2) + move^2 / sigma^2:
    lower is better, and it ranks forecasts as their true variance would although a squared
    move is a noisy stand-in for it (Patton 2011)."""
    variance = sigma**2
    return np.asarray(np.log(variance) + move**2 / variance)


def _forecast_5m(model: VolatilityModel, end: np.ndarray, close: np.ndarray, start: int) -> Any:
    """The model's 5-minute sigma after each bar from `start` on, its recursion run over the
    bars before first (the same past for every model compared)."""
    forecaster = RiskForecaster(model)
    forecaster.update(end[:start], close[:start])
    return forecaster.update(end[start:], close[start:]).sigma["5m"]


def refit_volatility(
    coin: str, candles: Candles | None, served: VolatilityModel, served_as: str, run: str = ""
) -> CoinOutcome:
    """Refit the coin's volatility forecast; serve the refit only if it earned it.

    Judged first, out of sample: the served model's kind fitted on the VOLATILITY_TRAIN_DAYS
    before the newest VOLATILITY_JUDGE_DAYS, and the served model, each forecast every next
    5-minute move of those days (both recursions run over the same training window first); the
    refit earns its place if its mean QLIKE is lower (a choice between two forecasts of the same
    thing, so the better one out of sample is served; the day-block interval of the difference
    is reported beside it). The artifact is then fitted on the newest VOLATILITY_TRAIN_DAYS up
    to the last bar, as a P(up) model is fitted on all history once it earned its place."""
    from cryptosignals.engine import closed_bars
    from cryptosignals.models.evaluation import code_version, day_bootstrap
    from cryptosignals.models.volatility import fit_volatility

    report: dict[str, Any] = {
        "coin": coin, "run": run, "kind": "volatility", "served_before": served_as,
        "code_version": code_version(),
    }  # fmt: skip

    if candles is None:
        return _not_evaluated(coin, report, "no history for this coin")
    bars = closed_bars(candles_to_ticks(coin, candles))
    end, close = bars["end"].astype(np.int64), np.asarray(bars["close"], dtype=float)
    if len(end) < 2 or end[-1] - end[0] < (VOLATILITY_JUDGE_DAYS + 14) * DAY:
        return _not_evaluated(
            coin,
            report,
            f"{(end[-1] - end[0]) / DAY if len(end) > 1 else 0:.1f} days of history: a refit "
            f"needs {VOLATILITY_JUDGE_DAYS + 14} (14 to fit, {VOLATILITY_JUDGE_DAYS} to judge)",
        )
    judged = int(np.searchsorted(end, end[-1] - VOLATILITY_JUDGE_DAYS * DAY, side="right"))
    first = int(np.searchsorted(end, end[judged] - VOLATILITY_TRAIN_DAYS * DAY))
    window = slice(first, None)
    try:
        candidate = fit_volatility(end[first:judged], close[first:judged], kind=served.kind)
    except ValueError as exc:
        return _not_evaluated(coin, report, str(exc))
    start = judged - first
    sigma_refit = _forecast_5m(candidate, end[window], close[window], start)
    sigma_served = _forecast_5m(served, end[window], close[window], start)
    later = end[judged:]
    move = np.log(close[judged + 1 :] / close[judged:-1])
    follows = np.diff(later) == 300  # the next bar is 5 minutes on: no gap in the move
    ok = follows & np.isfinite(move) & (sigma_refit[:-1] > 0) & (sigma_served[:-1] > 0)
    loss_refit = qlike(sigma_refit[:-1][ok], move[ok])
    loss_served = qlike(sigma_served[:-1][ok], move[ok])
    difference = day_bootstrap(later[:-1][ok], loss_refit - loss_served, resamples=1000)
    better = difference.value < 0
    report.update(
        verdict="refit forecasts better" if better else "served forecasts as well or better",
        earned=bool(better),
        reason=(
            f"the refit's QLIKE over the newest {VOLATILITY_JUDGE_DAYS} days is "
            f"{difference.value:+.4f} against the served forecast's: "
            + ("served" if better else "the served forecast stays")
        ),
        qlike_refit=float(loss_refit.mean()), qlike_served=float(loss_served.mean()),
        qlike_difference=difference.value,
        qlike_difference_interval=[difference.low, difference.high],
        judged_bars=int(ok.sum()), judged_from=int(end[judged]), judged_to=int(end[-1]),
        history={"start": int(end[0]), "end": int(end[-1]), "bars": len(end)},
    )  # fmt: skip
    if not better:
        return CoinOutcome(coin, _plain(report), None)
    last = int(np.searchsorted(end, end[-1] - VOLATILITY_TRAIN_DAYS * DAY))
    model = fit_volatility(end[last:], close[last:], kind=served.kind)
    artifact = {
        "artifact_version": 1, "coin": coin, "kind": "volatility", "params": model.to_json(),
        "training": {"start": int(end[last]), "end": int(end[-1]), "bars": len(end) - last},
        "judged": {k: report[k] for k in ("qlike_difference", "qlike_difference_interval",
                                          "judged_bars", "judged_from", "judged_to")},
        "code_version": report["code_version"],
    }  # fmt: skip
    report["artifact"] = kind_artifact_name(artifact)
    return CoinOutcome(coin, _plain(report), _plain(artifact))


def run_id(when: str | None = None) -> str:
    """A run's name from its start (ISO 8601, as Step Functions' `$$.Execution.StartTime`;
    default now): `20261201T105000Z`, which sorts in time."""
    moment = datetime.now(UTC)
    if when:
        try:
            moment = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            raise BadInputError(f"run {when!r}: expected an ISO 8601 time") from None
    return moment.strftime("%Y%m%dT%H%M%SZ")


# -- the bucket ----------------------------------------------------------------------------------
def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/"); a clear error otherwise."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise BadInputError(f"{uri!r}: expected s3://bucket[/prefix]")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix.strip("/") else ""


class ModelsBucket:
    """The models bucket as the training job sees it: candle history in, reports and artifacts
    out. `s3` is a boto3 S3 client; every key is under the layout of this module's doc."""

    def __init__(
        self, s3: Any, bucket: str, history_prefix: str = HISTORY_PREFIX,
        artifact_prefix: str = ARTIFACT_PREFIX, report_prefix: str = REPORT_PREFIX,
    ) -> None:  # fmt: skip
        self.s3, self.bucket = s3, bucket
        self.history_prefix, self.artifact_prefix = history_prefix, artifact_prefix
        self.report_prefix = report_prefix

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def upload_history(self, paths: Iterable[Path]) -> list[str]:
        """Upload candle files (checked first: a bad file fails before anything is written) as
        history/<file name>; returns the keys."""
        paths = list(paths)
        for path in paths:
            coin = coin_of_file(path, None)
            read_candles(path)
            if not any(path.name == n.format(coin=coin) for n in HISTORY_NAMES):
                raise BadInputError(
                    f"{path}: history files are named <coin>_5m.csv[.gz] or <coin>_1m.csv[.gz]"
                )
        keys = []
        for path in paths:
            key = f"{self.history_prefix}{path.name}"
            self.s3.upload_file(str(path), self.bucket, key)
            keys.append(key)
        return keys

    def history(self, coin: str) -> Candles | None:
        """The coin's candles from history/ (the first of HISTORY_NAMES there), or None."""
        present = set(self._keys(f"{self.history_prefix}{coin}_"))
        for name in HISTORY_NAMES:
            key = f"{self.history_prefix}{name.format(coin=coin)}"
            if key in present:
                with tempfile.TemporaryDirectory() as folder:  # /tmp: Lambda's writable disk
                    path = Path(folder) / Path(key).name
                    self.s3.download_file(self.bucket, key, str(path))
                    return read_candles(path)
        return None

    def _put_json(self, key: str, value: dict[str, Any]) -> None:
        body = json.dumps(value, allow_nan=False, indent=1).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                           ContentType="application/json")  # fmt: skip

    def served(self, coin: str) -> list[str]:
        """The coin's artifacts under served/p_up/ (what the process function chooses from)."""
        return sorted(self._keys(f"{self.artifact_prefix}{coin}_"))

    def served_volatility(
        self, coin: str, fitted_models: str | None = None
    ) -> tuple[VolatilityModel, str]:
        """The volatility forecast the process function serves the coin now: its newest refit
        under served/volatility/, else its model in the deployed models file (FITTED_MODELS, as the
        process function reads it; the package's by default) or that file's default coin's,
        with where it came from."""
        keys = self._keys(f"{VOLATILITY_PREFIX}{coin}_volatility_")
        if keys:
            key = max(keys, key=artifact_day)
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            try:
                return VolatilityModel.from_json(json.loads(body)["params"]), key
            except (ValueError, KeyError, TypeError) as exc:
                raise BadInputError(f"{key}: not a volatility artifact ({exc})") from None
        path = None if fitted_models is None else deployed_file(fitted_models)
        try:
            model = model_for(coin, path)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
        if model is None:
            raise BadInputError("the deployed models file has no volatility model to start from")
        return model, "the package's fitted models" if path is None else path.name

    def store_kind(self, outcome: CoinOutcome, run: str) -> dict[str, Any]:
        """Write a volatility refit or a meta-label judgement (the report's `kind`): the report
        always, the artifact if it earned its place. A meta-label filter judged and not earning
        it withdraws the coin's earlier filters, as a P(up) model does (`store`); a volatility
        refit that did not earn it leaves the served forecast (it forecast the newest days as
        well)."""
        kind = outcome.report["kind"]
        prefix = {"volatility": VOLATILITY_PREFIX, "metalabel": METALABEL_PREFIX}[kind]
        report = dict(outcome.report)
        key, withdrawn = None, []
        if outcome.artifact is not None:
            key = f"{prefix}{kind_artifact_name(outcome.artifact)}"
            self._put_json(key, outcome.artifact)
        elif kind == "metalabel" and report.get("verdict") != "not evaluated":
            withdrawn = sorted(self._keys(f"{prefix}{outcome.coin}_{kind}_"))
            for old in withdrawn:
                self.s3.delete_object(Bucket=self.bucket, Key=old)
        report["artifact_key"], report["withdrawn"] = key, withdrawn
        report_key = f"{self.report_prefix}{run}/{outcome.coin}_{kind}.json"
        self._put_json(report_key, report)
        return {"report": report_key, "artifact": key, "withdrawn": withdrawn}

    def store(self, outcome: CoinOutcome, run: str) -> dict[str, Any]:
        """Write the outcome: the report always; the artifact if earned. A coin whose model was
        judged and did not earn it has its served artifacts withdrawn (deleted: the bucket is
        versioned, so they stay recoverable), so the process function stops serving a model the
        latest evidence no longer supports. Returns the keys written and withdrawn."""
        report = dict(outcome.report)
        written, withdrawn = [], []
        if outcome.artifact is not None:
            key = f"{self.artifact_prefix}{artifact_name(outcome.artifact)}"
            self._put_json(key, outcome.artifact)
            written.append(key)
        elif report.get("verdict") != "not evaluated":
            same = f"{outcome.coin}_{report['target']}_{report['model']}_"
            withdrawn = [k for k in self.served(outcome.coin) if Path(k).name.startswith(same)]
            for key in withdrawn:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
        report["artifact_key"] = written[0] if written else None
        report["withdrawn"] = withdrawn
        name = f"{outcome.coin}_{report['target']}_{report['model']}.json"
        report_key = f"{self.report_prefix}{run}/{name}"
        self._put_json(report_key, report)
        return {"report": report_key, "artifact": report["artifact_key"], "withdrawn": withdrawn}
