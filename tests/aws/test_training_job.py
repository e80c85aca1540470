"""The training job without a server: the gate (a model is served only if it beat the base rate
out of sample), its reports, the bucket's layout and withdrawal, the process side's artifact
lookup (folder and s3://), and the state-machine interpreter's pieces."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cryptosignals.candles import COLUMNS, Candles, read_candles, sample_path
from cryptosignals.errors import BadInputError, PermanentError
from cryptosignals.local.states import (
    _choose,
    _StatesError,
    evaluate_template,
    intrinsic,
    select,
)
from cryptosignals.models.training import (
    MIN_TEST_DAYS,
    CoinOutcome,
    ModelsBucket,
    TrainingSettings,
    artifact_name,
    earned,
    run_id,
    train_coin,
)
from cryptosignals.predict import newest_predictor
from cryptosignals.risk import model_for
from cryptosignals.synthetic import predictable_candles

FAST = TrainingSettings(resamples=300)
RUN = "20261201T030000Z"


def write_candles(candles: Candles, path: Path) -> Path:
    """A candle file as `read_candles` reads it."""
    with gzip.open(path, "wt") as handle:
        handle.write(",".join(COLUMNS) + "\n")
        for row in zip(*(getattr(candles, c) for c in COLUMNS), strict=True):
            handle.write(",".join(str(v) for v in row) + "\n")
    return path


@pytest.fixture(scope="module")
def planted() -> Candles:
    """16 days with a planted momentum effect: a model can beat the base rate on it."""
    return predictable_candles(days=16, strength=0.3)


@pytest.fixture(scope="module")
def walk() -> Candles:
    """The same generator with nothing planted: a random walk."""
    return predictable_candles(days=16, strength=0.0)


@pytest.fixture(scope="module")
def served(planted: Candles) -> CoinOutcome:
    return train_coin("bitcoin", planted, FAST, run=RUN)


@pytest.fixture(scope="module")
def not_served(walk: Candles) -> CoinOutcome:
    return train_coin("bitcoin", walk, FAST, run=RUN)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process (no endpoint), and `cryptosignals.aws.config.clients` answering from it."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}  # fmt: skip
    for key, value in fake.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="models")
        monkeypatch.setattr("cryptosignals.aws.config.clients", lambda *a, **k: client)
        yield client


@pytest.mark.slow  # two walk-forward trainings of 16 days (shared)
def test_a_model_that_beats_the_base_rate_is_served_and_one_that_does_not_is_only_reported(
    served: CoinOutcome, not_served: CoinOutcome
) -> None:
    found = served
    assert found.earned and found.report["verdict"] == "beats the base rate"
    assert found.report["brier_difference_interval"][1] < 0  # the whole interval below 0
    assert found.report["model_version"].startswith("bitcoin_up_1h_logistic_")
    assert found.artifact is not None and found.report["artifact"] == artifact_name(found.artifact)
    assert found.artifact["out_of_sample"]["verdict"]["beats_base_rate"] is True
    nothing = not_served
    assert not nothing.earned and nothing.artifact is None
    assert nothing.report["verdict"] != "beats the base rate"
    assert "not served" in nothing.report["reason"] and nothing.report["model_version"] is None
    for report in (found.report, nothing.report):  # what a person reads to see why
        assert {"auc", "brier", "brier_base_rate", "n_test", "folds", "code_version"} <= set(report)
        assert report["run"] == RUN
        json.dumps(report, allow_nan=False)


def test_the_gate_needs_the_verdict_and_a_model_the_stream_can_serve() -> None:
    assert earned("beats the base rate", "logistic", MIN_TEST_DAYS)
    assert earned("beats the base rate", "lightgbm", 30)  # the stream walks its trees too
    assert not earned("beats the base rate", "random_forest", 30)  # nothing serves it
    assert not earned("beats the base rate", "logistic", MIN_TEST_DAYS - 1)  # too few days
    assert not earned("no better than the base rate", "logistic", 30)
    assert not earned("loses to the base rate", "logistic", 30)


def test_a_coin_without_usable_history_gets_a_report_and_no_model(planted: Candles) -> None:
    missing = train_coin("solana", None, FAST, run=RUN)
    assert missing.report["verdict"] == "not evaluated" and missing.artifact is None
    assert missing.report["reason"] == "no history for this coin"
    short = train_coin("solana", planted[:250], FAST, run=RUN)  # under a day: no fold
    assert short.report["verdict"] == "not evaluated" and "no fold" in short.report["reason"]
    # the planted effect shows in two days, but two days of evidence do not serve a model
    brief = train_coin("solana", planted[: 288 * 3], FAST, run=RUN)
    assert brief.report["verdict"] == "beats the base rate" and not brief.earned
    assert brief.report["test_days_count"] < MIN_TEST_DAYS and "only" in brief.report["reason"]


def test_settings_come_from_the_event_and_bad_ones_are_refused() -> None:
    settings = TrainingSettings.from_event({"target": "up_30m", "model": "lightgbm"})
    assert (settings.target, settings.model) == ("up_30m", "lightgbm")
    assert TrainingSettings.from_event({}) == TrainingSettings()
    for bad in ({"model": "forest"}, {"target": "down_1h"}, {"cost_bps": -1}):
        with pytest.raises(BadInputError):
            TrainingSettings.from_event(bad)
    assert run_id("2026-12-01T03:00:00.123Z") == RUN
    with pytest.raises(BadInputError):
        run_id("last tuesday")


@pytest.mark.slow  # two walk-forward trainings of 16 days (shared)
def test_the_bucket_keeps_reports_and_withdraws_a_model_that_stopped_earning(
    s3: Any, planted: Candles, served: CoinOutcome, not_served: CoinOutcome, tmp_path: Path
) -> None:
    bucket = ModelsBucket(s3, "models")
    keys = bucket.upload_history([write_candles(planted, tmp_path / "bitcoin_5m.csv.gz")])
    assert keys == ["history/bitcoin_5m.csv.gz"]
    history = bucket.history("bitcoin")
    assert history is not None and len(history) == len(planted)
    assert bucket.history("ethereum") is None
    first = bucket.store(served, RUN)
    assert served.artifact is not None
    assert first["artifact"] == f"served/p_up/{artifact_name(served.artifact)}"
    assert first["report"] == f"reports/{RUN}/bitcoin_up_1h_logistic.json"
    assert bucket.served("bitcoin") == [first["artifact"]]
    # a run that cannot judge (no history) leaves the served model alone
    kept = bucket.store(train_coin("bitcoin", None, FAST, run="later"), "later")
    assert kept["withdrawn"] == [] and bucket.served("bitcoin") == [first["artifact"]]
    # a run whose verdict no longer supports it withdraws it (the bucket is versioned)
    second = bucket.store(not_served, "again")
    assert second["withdrawn"] == [first["artifact"]] and bucket.served("bitcoin") == []
    report = json.loads(s3.get_object(Bucket="models", Key=second["report"])["Body"].read())
    assert report["withdrawn"] == [first["artifact"]] and report["artifact_key"] is None


def test_history_files_are_checked_before_anything_is_uploaded(s3: Any, tmp_path: Path) -> None:
    good = write_candles(read_candles(sample_path("bitcoin")), tmp_path / "bitcoin_5m.csv.gz")
    odd = tmp_path / "ethereum_1h.csv.gz"
    odd.write_bytes(good.read_bytes())
    with pytest.raises(BadInputError, match="history files are named"):
        ModelsBucket(s3, "models").upload_history([good, odd])
    assert "Contents" not in s3.list_objects_v2(Bucket="models")


@pytest.mark.slow  # two walk-forward trainings of 16 days (shared)
def test_the_process_side_finds_the_newest_artifact_in_a_folder_and_under_s3(
    s3: Any, served: CoinOutcome, tmp_path: Path
) -> None:
    artifact = served.artifact
    assert artifact is not None
    newer = {**artifact, "training": {**artifact["training"], "end": 1_767_225_600}}
    for folder_artifact in (artifact, newer):
        name = artifact_name(folder_artifact)
        (tmp_path / name).write_text(json.dumps(folder_artifact))
        s3.put_object(Bucket="models", Key=f"p_up/{name}", Body=json.dumps(folder_artifact))
    for source in (tmp_path, "s3://models/p_up/", "s3://models/p_up"):
        found = newest_predictor("bitcoin", source)
        assert found is not None
        predictor, where = found
        assert "_20260101@" in predictor.version and where.endswith("_20260101.json")
        assert newest_predictor("ethereum", source) is None
    tree = {**newer, "model": "lightgbm", "training": {**newer["training"], "end": 1_800_000_000}}
    s3.put_object(Bucket="models", Key=f"p_up/{artifact_name(tree)}", Body=json.dumps(tree))
    with pytest.raises(BadInputError, match=r"s3://models/p_up/bitcoin_up_1h_lightgbm_2027"):
        newest_predictor("bitcoin", "s3://models/p_up/")


def test_the_state_machine_interpreter_evaluates_paths_and_intrinsics() -> None:
    context = {"Execution": {"StartTime": "2026-12-01T03:00:00Z"}, "Map": {"Item": {"Value": 7}}}
    document = {"coins": "a, b,c,d,e", "n": 2, "deep": {"list": [10, 20]}}
    groups = intrinsic("States.ArrayPartition(States.StringSplit($.coins, ', '), $.n)",
                       document, context)  # fmt: skip
    assert groups == [["a", "b"], ["c", "d"], ["e"]]
    assert select(document, "$.deep.list[1]", context) == 20
    assert select(document, "$$.Map.Item.Value", context) == 7
    template = {"run.$": "$$.Execution.StartTime", "fixed": {"x": 1},
                "label.$": "States.Format('{} of {}', $.n, 'coins')"}  # fmt: skip
    assert evaluate_template(template, document, context) == {
        "run": "2026-12-01T03:00:00Z", "fixed": {"x": 1}, "label": "2 of coins"
    }  # fmt: skip
    with pytest.raises(_StatesError):
        select(document, "$.missing", context)
    with pytest.raises(PermanentError, match="not emulated"):
        intrinsic("States.Hash($.coins, 'SHA-1')", document, context)


def test_the_state_machine_interpreter_chooses_by_the_rules_of_a_choice_state() -> None:
    choice = {
        "Choices": [
            {"Variable": "$.coins", "IsPresent": True, "Next": "Named"},
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1},
                     {"Not": {"Variable": "$.kind", "StringEquals": "weekly"}}], "Next": "Many"},
        ],
        "Default": "All",
    }  # fmt: skip
    assert _choose(choice, {"coins": ["solana"]}, {}) == "Named"
    assert _choose(choice, {"n": 2, "kind": "drift"}, {}) == "Many"
    assert _choose(choice, {"n": 2, "kind": "weekly"}, {}) == "All"
    assert _choose(choice, {"n": "2"}, {}) == "All"  # a string is not a number, as on AWS
    with pytest.raises(_StatesError, match=r"States\.NoChoiceMatched"):
        _choose({"Choices": choice["Choices"]}, {}, {})
    with pytest.raises(PermanentError, match="not emulated"):
        _choose({"Choices": [{"Variable": "$.n", "StringMatches": "a*", "Next": "X"}]},
                {"n": "ab"}, {})  # fmt: skip


def test_the_bucket_serves_the_newest_volatility_refit_else_the_deployed_models(
    s3: Any,
) -> None:
    bucket = ModelsBucket(s3, "models")
    model, where = bucket.served_volatility("bitcoin")
    assert where == "the package's fitted models" and model == model_for("bitcoin")
    report = {"coin": "bitcoin", "kind": "volatility", "verdict": "refit forecasts better"}
    older, newer = (
        {"coin": "bitcoin", "kind": "volatility", "params": {**model.to_json(), "nu": nu},
         "training": {"start": end - 30 * 86_400, "end": end}}
        for nu, end in ((5.0, 1_767_225_600), (6.0, 1_767_830_400))
    )  # fmt: skip
    for artifact in (newer, older):  # stored out of order: the day in the name decides
        keys = bucket.store_kind(CoinOutcome("bitcoin", report, artifact), RUN)
    assert keys["artifact"] == "served/volatility/bitcoin_volatility_20260101.json"
    assert keys["report"] == f"reports/{RUN}/bitcoin_volatility.json"
    served, where = bucket.served_volatility("bitcoin")
    assert where == "served/volatility/bitcoin_volatility_20260108.json" and served.nu == 6.0
    key = "served/volatility/bitcoin_volatility_20270101.json"
    s3.put_object(Bucket="models", Key=key, Body=b"{}")
    with pytest.raises(BadInputError, match="not a volatility artifact"):
        bucket.served_volatility("bitcoin")
