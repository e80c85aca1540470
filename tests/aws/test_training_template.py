"""Static checks of the training resources in template.yaml: what the emulator ignores (bucket
encryption, versioning, public access, IAM scope) and what the local run cannot show (the image
build, the schedule's and the Map's settings). Fast: no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptosignals.local.template import load_template, template_path, translate

REPO = template_path().parent


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    return translate(template)


def _statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = resources[role]["Properties"]
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _grants(resources: dict[str, Any], role: str) -> dict[str, list[str]]:
    """Action -> the resources (as JSON text) one role is granted it on."""
    granted: dict[str, list[str]] = {}
    for statement in _statements(resources, role):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        targets = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for action in actions:
            granted.setdefault(action, []).extend(json.dumps(t) for t in targets)
    return granted


def test_the_models_bucket_is_encrypted_versioned_private_and_kept(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["ModelsBucket"]
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_the_training_function_is_an_image_built_from_the_repository(
    template: dict[str, Any],
) -> None:
    function = template["Resources"]["TrainFunction"]
    props = function["Properties"]
    assert props["PackageType"] == "Image" and "Runtime" not in props and "Handler" not in props
    assert "Runtime" not in template["Globals"]["Function"]  # an image function may have none
    (handler,) = props["ImageConfig"]["Command"]
    assert handler == "cryptosignals.handlers.train.handler"
    dockerfile = REPO / function["Metadata"]["Dockerfile"]
    assert function["Metadata"]["DockerContext"] == "."
    text = dockerfile.read_text()
    assert f'CMD ["{handler}"]' in text and "[aws,models]" in text
    assert ":3.12" in text  # the zip functions' runtime
    assert props["Timeout"] == 900 and props["MemorySize"] >= 1769  # over one vCPU
    assert props["Environment"]["Variables"]["MODELS_BUCKET"] == {"Ref": "ModelsBucket"}
    ignored = (REPO / ".dockerignore").read_text().splitlines()  # the context: only these
    assert "*" in ignored and {"!pyproject.toml", "!README.md", "!src/"} <= set(ignored)


def test_the_zip_functions_keep_their_runtime(translated: dict[str, Any]) -> None:
    for name in ("IngestFunction", "ProcessFunction"):
        assert translated["Resources"][name]["Properties"]["Runtime"] == "python3.12"


def test_the_state_machine_fans_out_over_coin_groups_on_a_schedule(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    machine = resources["TrainingStateMachine"]["Properties"]
    text, variables = machine["DefinitionString"]["Fn::Sub"], {}
    for name in ("TrackedCoins", "TrainTarget"):
        variables[name] = "bitcoin,ethereum" if name == "TrackedCoins" else "up_1h"
    variables |= {"TrainCoinsPerGroup": "4", "TrainMaxConcurrency": "4",
                  "AWS::Partition": "aws", "TrainFunction.Arn": "arn:fn"}  # fmt: skip
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    definition = json.loads(text)  # valid JSON once substituted
    groups = definition["States"]["CoinGroups"]["Parameters"]["groups.$"]
    assert groups.startswith("States.ArrayPartition(States.StringSplit('bitcoin,ethereum'")
    fan = definition["States"]["TrainGroups"]
    assert fan["Type"] == "Map" and fan["MaxConcurrency"] == 4
    task = fan["ItemProcessor"]["States"]["TrainGroup"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"]["FunctionName"] == "arn:fn"
    assert all("Lambda." in e for r in task["Retry"] for e in r["ErrorEquals"])  # not its errors
    params = template["Parameters"]
    assert params["TrainSchedule"]["Default"] == "rate(7 days)"
    assert params["TrainCoinsPerGroup"]["MinValue"] == 1
    rule = resources["TrainingSchedule"]["Properties"]
    assert rule["ScheduleExpression"] == {"Ref": "TrainSchedule"}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "TrainingStateMachine"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["TrainingScheduleRole", "Arn"]}
    alarm = resources["TrainingFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")


def test_each_training_role_may_do_only_its_part(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    train = _grants(resources, "TrainRole")
    assert set(train) == {"logs:CreateLogStream", "logs:PutLogEvents", "s3:ListBucket",
                          "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                          "xray:PutTraceSegments", "xray:PutTelemetryRecords"}  # fmt: skip

    def folders(action: str) -> list[str]:  # "...${ModelsBucket.Arn}/served/p_up/*" -> served/p_up
        return sorted(t.split("Arn}/")[1].rsplit("/", 1)[0] for t in train[action])

    assert folders("s3:GetObject") == ["history", "served/volatility"]
    assert folders("s3:PutObject") == ["reports", "served"]
    assert folders("s3:DeleteObject") == ["served/metalabel", "served/p_up"]
    machine = _grants(resources, "TrainingStateMachineRole")
    assert machine == {"lambda:InvokeFunction": [json.dumps({"Fn::GetAtt": ["TrainFunction",
                                                                           "Arn"]})]}  # fmt: skip
    schedule = _grants(resources, "TrainingScheduleRole")
    assert schedule == {"states:StartExecution": [json.dumps({"Ref": "TrainingStateMachine"})]}
    for role, service in (("TrainingStateMachineRole", "states.amazonaws.com"),
                          ("TrainingScheduleRole", "events.amazonaws.com")):  # fmt: skip
        (trust,) = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": service}
        assert trust["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }


def test_the_process_function_reads_only_the_served_models(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    process = _grants(resources, "ProcessRole")
    s3 = {a: t for a, t in process.items() if a.startswith("s3:")}
    assert set(s3) == {"s3:ListBucket", "s3:GetObject"}
    assert s3["s3:GetObject"] == [json.dumps({"Fn::Sub": "${ModelsBucket.Arn}/served/*"})]
    (listing,) = [
        s for s in _statements(resources, "ProcessRole") if s["Action"] == "s3:ListBucket"
    ]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["served/*"]}}
    env = resources["ProcessFunction"]["Properties"]["Environment"]["Variables"]
    condition, folder, default = env["MODELS"]["Fn::If"]
    assert condition == "HasModelsFolder" and folder == {"Ref": "ModelsFolder"}
    assert default == {"Fn::Sub": "s3://${ModelsBucket}/served/"}


def test_the_training_code_stays_out_of_the_stream() -> None:
    """The process function's modules never import the training side (scikit-learn, LightGBM,
    the training job): they are not in its package."""
    training = ("sklearn", "lightgbm", "arch", "hmmlearn", "river")
    code = (
        "import sys, cryptosignals.handlers.process, cryptosignals.predict\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{training!r} or m.startswith(('cryptosignals.models', 'cryptosignals.handlers.train'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
    assert Path(REPO / "images" / "train" / "Dockerfile").is_file()


def test_a_drift_event_starts_a_volatility_refit_of_that_coin_alone(
    template: dict[str, Any],
) -> None:
    rule = template["Resources"]["DriftRetrainRule"]["Properties"]
    assert rule["EventBusName"] == {"Fn::GetAtt": ["SignalsBus", "Name"]}
    assert rule["EventPattern"] == {
        "source": ["cryptosignals.engine"], "detail-type": ["VolatilityDrift"]
    }  # fmt: skip
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "TrainingStateMachine"}
    assert target["RoleArn"] == {"Fn::GetAtt": ["TrainingScheduleRole", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["AlertDeliveryFailureQueue", "Arn"]}
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"coin": "$.detail.crypto_id"}
    made = json.loads(transformer["InputTemplate"].replace("<coin>", json.dumps("solana")))
    assert made == {"coins": ["solana"], "jobs": ["volatility"], "reason": "drift"}
