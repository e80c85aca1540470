"""Static checks of template.yaml: what the emulator ignores (encryption, PITR, TTL, IAM scope)
is asserted here, plus cfn-lint and checkov. Fast: no server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptosignals.local.template import load_template, template_path, translate

TEMPLATE = template_path()
REPO = TEMPLATE.parent

#: checkov checks we skip, each with the reason (the alternative costs money or buys nothing).
CHECKOV_SKIPS = {
    "CKV_AWS_119": "DynamoDB tables use SSE with the AWS-managed KMS key (SSEType KMS); a "
    "customer CMK costs $1/month plus a key policy and protects public market data no better.",
    "CKV_AWS_149": "The CoinGecko key secret uses the AWS-managed aws/secretsmanager key; a CMK "
    "would need a key policy for the ingest role and adds no protection for one API key.",
    "CKV_AWS_27": "Queues use SQS-managed SSE (SqsManagedSseEnabled), which this check does not "
    "recognise; EventBridge cannot deliver to a queue encrypted with the aws/sqs KMS key.",
    "CKV_AWS_116": "No function is invoked asynchronously with events worth replaying: "
    "process failures go to the Kinesis OnFailure queue, a failed scheduled ingest run is "
    "superseded by the next one (it is alarmed on through Errors and IngestFailures), and the "
    "training function is invoked synchronously by its state machine (failed runs alarmed on).",
    "CKV_AWS_117": "No VPC: the functions reach only CoinGecko and AWS public endpoints; a VPC "
    "would need a NAT gateway (~$32/month) and would protect nothing here.",
    "CKV_AWS_173": "Environment variables hold only resource names, never secrets (the API key is "
    "read from Secrets Manager at run time); Lambda encrypts them at rest by default.",
    "CKV_AWS_26": "The alarm and alert topics are not KMS-encrypted: neither CloudWatch nor "
    "EventBridge can publish to a topic encrypted with the AWS-managed aws/sns key, and a "
    "customer key ($1/month + a key policy) would protect only alarms and public-market signals.",
    "CKV_AWS_115": "No reserved concurrency: accounts at the default limit of 10 cannot reserve "
    "any; runs are 5 minutes apart and the Kinesis mapping runs one batch per shard at a time.",
    "CKV_AWS_18": "The models bucket has no server access logs: they need a second bucket, to "
    "log reads and writes that only the stack's training and process roles may make; the "
    "bucket is versioned, so every change to a served model stays recoverable.",
    "CKV_AWS_158": "Log groups use CloudWatch Logs' default encryption at rest; logs carry no "
    "secrets, and a CMK would add cost and a key policy for the logs service.",
}

#: The only statements allowed a "*" resource: AWS defines no resource type for these actions.
STAR_RESOURCE_ALLOWED = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    return translate(template)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM policy statement in roles, managed policies and inline policies."""
    found = []
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            found += [(name, s) for s in document["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_passes_on_the_template_and_its_translation(translated: dict[str, Any]) -> None:
    from cfnlint.api import lint, lint_file

    matches = lint_file(TEMPLATE)
    assert not matches, "\n".join(str(m) for m in matches)
    matches = lint(json.dumps(translated))
    assert not matches, "\n".join(str(m) for m in matches)


def _checkov() -> str | None:
    candidates = [
        os.environ.get("CHECKOV"),
        str(Path(sys.prefix) / "checkov" / "bin" / "checkov"),  # make test's own venv
        shutil.which("checkov"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def test_checkov_passes_with_each_skip_explained() -> None:
    checkov = _checkov()
    if checkov is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed; `make test` installs it in .venv/checkov")
        pytest.skip("checkov not installed (make test installs it in .venv/checkov)")
    assert all(len(reason) > 40 for reason in CHECKOV_SKIPS.values())
    result = subprocess.run(
        [
            checkov,
            "-f",
            str(TEMPLATE),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
            "--quiet",
            "--output",
            "json",
            "--skip-check",
            ",".join(CHECKOV_SKIPS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    if report is None:  # checkov prints [] or a list when there is nothing / several frameworks
        assert result.returncode == 0, result.stdout + result.stderr
        return
    failed = report.get("results", {}).get("failed_checks", [])
    summary = [f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in failed]
    assert not failed, "\n".join(summary)
    assert result.returncode == 0, result.stderr
    assert report["summary"]["passed"] > 20


def test_every_table_is_on_demand_encrypted_and_point_in_time_recoverable(
    template: dict[str, Any],
) -> None:
    tables = _of_type(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"RawTable", "AggregatedTable", "SignalsTable", "EngineStateTable"}
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table.get("DeletionPolicy") == "Retain", name


def test_tables_keep_the_users_keys_names_and_the_gsi(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["StreamName"]["Default"] == "lambda-stream"
    assert params["RawTableName"]["Default"] == "crypto_raw_data"
    assert params["AggregatedTableName"]["Default"] == "crypto_aggregated_data"
    assert params["SignalsTableName"]["Default"] == "trading_signals"
    resources = template["Resources"]

    def keys(props: dict[str, Any]) -> list[tuple[str, str]]:
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        return [(k["AttributeName"], types[k["AttributeName"]]) for k in props["KeySchema"]]

    assert keys(resources["RawTable"]["Properties"]) == [("crypto_id", "S"), ("loading_time", "N")]
    assert keys(resources["AggregatedTable"]["Properties"]) == [
        ("crypto_id", "S"),
        ("time_window", "N"),
    ]
    signals = resources["SignalsTable"]["Properties"]
    assert keys(signals) == [("signal_id", "S"), ("timestamp", "N")]
    (gsi,) = signals["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "crypto_id-timestamp-index"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["crypto_id", "timestamp"]
    assert keys(resources["EngineStateTable"]["Properties"]) == [("crypto_id", "S")]


def test_raw_ticks_expire_by_ttl_and_nothing_else_does(template: dict[str, Any]) -> None:
    tables = _of_type(template, "AWS::DynamoDB::Table")
    ttl = tables["RawTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert all(
        "TimeToLiveSpecification" not in t["Properties"]
        for n, t in tables.items()
        if n != "RawTable"
    )


def test_stream_and_queues_are_encrypted(template: dict[str, Any]) -> None:
    stream = template["Resources"]["Stream"]["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    assert stream["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    assert template["Parameters"]["ShardCount"]["Default"] == 1
    for name, queue in _of_type(template, "AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
    for name, topic in _of_type(template, "AWS::SNS::Topic").items():
        # CloudWatch alarms cannot publish to a topic encrypted with aws/sns (see CKV_AWS_26)
        assert topic.get("Properties", {}).get("KmsMasterKeyId") != "alias/aws/sns", name


def test_no_iam_action_is_a_wildcard_anywhere(translated: dict[str, Any]) -> None:
    statements = _statements(translated["Resources"])
    assert len(statements) >= 10
    for role, statement in statements:
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{role}: wildcard action {action}"
        assert "NotAction" not in statement and "NotResource" not in statement, role


def test_star_resources_only_where_aws_leaves_no_choice(translated: dict[str, Any]) -> None:
    for role, statement in _statements(translated["Resources"]):
        resources = _as_list(statement["Resource"])
        if any(r == "*" or (isinstance(r, str) and r.endswith(":*")) for r in resources):
            for action in _as_list(statement["Action"]):
                assert action in STAR_RESOURCE_ALLOWED, f"{role}: {action} on '*'"


def test_functions_have_their_own_roles_without_managed_policies(
    translated: dict[str, Any],
) -> None:
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert set(functions) == {"IngestFunction", "ProcessFunction", "TrainFunction"}
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()}
    assert roles == {"IngestRole", "ProcessRole", "TrainRole"}
    for name, role in _of_type(translated, "AWS::IAM::Role").items():
        assert not role["Properties"].get("ManagedPolicyArns"), name


def test_each_function_touches_only_its_own_resources(translated: dict[str, Any]) -> None:
    def refs(role: str) -> dict[str, set[str]]:
        granted: dict[str, set[str]] = {}
        for owner, statement in _statements(translated["Resources"]):
            if owner != role:
                continue
            for resource in _as_list(statement["Resource"]):
                target = json.dumps(resource)
                for action in _as_list(statement["Action"]):
                    granted.setdefault(action, set()).add(target)
        return granted

    ingest, process = refs("IngestRole"), refs("ProcessRole")
    assert not any(a.startswith(("kinesis:Get", "events:", "sqs:")) for a in ingest)
    assert all("Stream" in t for a in ("kinesis:PutRecords",) for t in ingest[a])
    assert "secretsmanager:GetSecretValue" not in process
    assert not any(a.startswith("kinesis:Put") for a in process)
    assert all("SignalsBus" in t for t in process["events:PutEvents"])
    assert all("IngestLogGroup" in t for t in ingest["logs:PutLogEvents"])
    assert all("ProcessLogGroup" in t for t in process["logs:PutLogEvents"])
    assert {a for a in ingest if a.startswith("kinesis:")} == {"kinesis:PutRecords"}


def test_the_engine_state_table_is_split_between_the_functions_by_key(
    translated: dict[str, Any],
) -> None:
    """One table, two owners: the ingest function may touch only its cursor item, the process
    function every coin's state but that item."""
    on_state = {
        owner: statement
        for owner, statement in _statements(translated["Resources"])
        if "EngineStateTable" in json.dumps(statement["Resource"])
    }
    keys = "dynamodb:LeadingKeys"
    assert on_state["IngestRole"]["Condition"] == {"ForAllValues:StringEquals": {keys: ["_ingest"]}}
    assert on_state["ProcessRole"]["Condition"] == {
        "ForAllValues:StringNotEquals": {keys: ["_ingest"]}
    }


def test_process_mapping_has_every_reliability_option(translated: dict[str, Any]) -> None:
    (mapping,) = _of_type(translated, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    for key in ("BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts"):
        assert key in props
    assert "MaximumRecordAgeInSeconds" in props
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["ProcessFailureQueue", "Arn"]
    }


def test_ingest_runs_on_a_schedule_that_fits_the_demo_quota(translated: dict[str, Any]) -> None:
    rules = _of_type(translated, "AWS::Events::Rule")
    schedule = rules["IngestFunctionSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "IngestSchedule"}
    default = load_template(TEMPLATE)["Parameters"]["IngestSchedule"]["Default"]
    assert default == "rate(5 minutes)"
    calls_a_month = 30 * 24 * 60 // 5
    assert calls_a_month <= 10_000


def test_api_key_lives_in_secrets_manager_and_env_has_only_its_arn(
    translated: dict[str, Any],
) -> None:
    ingest = translated["Resources"]["IngestFunction"]["Properties"]
    env = ingest["Environment"]["Variables"]
    assert env["COINGECKO_API_KEY_SECRET"] == {"Ref": "CoinGeckoApiKey"}
    assert "COINGECKO_API_KEY" not in env
    secret = translated["Resources"]["CoinGeckoApiKey"]["Properties"]
    assert "SecretString" not in secret


def test_powertools_and_names_reach_both_functions(translated: dict[str, Any]) -> None:
    for name, service in (("IngestFunction", "ingest"), ("ProcessFunction", "process")):
        props = translated["Resources"][name]["Properties"]
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == service
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CryptoSignals"
        assert env["SIGNALS_BUS"] == {"Fn::GetAtt": ["SignalsBus", "Name"]}  # never !Ref a bus
        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == f"cryptosignals.handlers.{service}.handler"


def test_logs_alarms_and_dashboard_exist(translated: dict[str, Any]) -> None:
    groups = _of_type(translated, "AWS::Logs::LogGroup")
    assert len(groups) == 3 and all("RetentionInDays" in g["Properties"] for g in groups.values())
    alarms = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in _of_type(translated, "AWS::CloudWatch::Alarm").values()
    }
    assert {
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("CryptoSignals", "IngestFailures"),
    } <= alarms
    errors = [
        a["Properties"]["Dimensions"][0]["Value"]
        for a in _of_type(translated, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "Errors"
    ]
    assert {"IngestFunction", "ProcessFunction"} == {e["Ref"] for e in errors}
    assert _of_type(translated, "AWS::CloudWatch::Dashboard")


def test_no_per_coin_custom_metric_dimension(template: dict[str, Any]) -> None:
    text = TEMPLATE.read_text()
    assert '"crypto_id"' not in text.split("Dashboard:")[1]
    for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values():
        dims = [d["Name"] for d in alarm["Properties"].get("Dimensions", [])]
        assert "crypto_id" not in dims and "coin" not in dims


def test_code_uri_packages_src_for_the_cryptosignals_package(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["CodeUri"] == "src/"
    assert (REPO / "src" / "cryptosignals" / "__init__.py").is_file()


def test_the_lambda_package_leaves_out_numba_and_pandas() -> None:
    """sam build installs src/requirements.txt: what the handlers import, nothing heavy."""
    lines = (REPO / "src" / "requirements.txt").read_text().splitlines()
    names = {line.split(">=")[0].split("==")[0].strip() for line in lines if line.strip()}
    names = {n for n in names if n and not n.startswith("#")}
    assert {"numpy", "aws-lambda-powertools", "requests"} <= names
    assert not names & {"numba", "llvmlite", "pandas", "scikit-learn", "ta-lib"}


# ------------------------------------------------------------------ alerts that reach a person
def _statements_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return list(resource["Properties"]["PolicyDocument"]["Statement"])


def test_alert_parameters_are_optional_and_the_webhook_ones_never_echoed(
    template: dict[str, Any],
) -> None:
    params = template["Parameters"]
    for name in ("AlertEmail", "AlertWebhookUrl", "AlertWebhookSecret"):
        assert params[name]["Default"] == "", name
    assert params["AlertWebhookSecret"]["NoEcho"] is True
    assert params["AlertWebhookUrl"]["NoEcho"] is True  # a Slack/Discord URL is a credential
    conditions = template["Conditions"]
    assert conditions["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    webhook = json.dumps(conditions["HasAlertWebhook"])
    assert '"Ref": "AlertWebhookUrl"' in webhook and '"Ref": "AlertWebhookSecret"' in webhook
    (rule,) = template["Rules"].values()  # a URL without its secret fails the deploy
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertWebhookSecret"}, ""]}]
    }


def test_the_email_subscription_and_the_webhook_exist_only_when_configured(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    email = resources["AlertEmailSubscription"]
    assert email["Condition"] == "HasAlertEmail"
    assert email["Properties"] == {
        "TopicArn": {"Ref": "AlertTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlertEmail"},
    }
    webhook = ("AlertWebhookConnection", "AlertWebhook", "AlertWebhookRole")
    assert all(resources[name]["Condition"] == "HasAlertWebhook" for name in webhook)
    auth = resources["AlertWebhookConnection"]["Properties"]
    assert auth["AuthorizationType"] == "API_KEY"
    assert auth["AuthParameters"]["ApiKeyAuthParameters"] == {
        "ApiKeyName": "X-Cryptosignals-Secret",
        "ApiKeyValue": {"Ref": "AlertWebhookSecret"},
    }
    destination = resources["AlertWebhook"]["Properties"]
    assert destination["InvocationEndpoint"] == {"Ref": "AlertWebhookUrl"}
    assert destination["HttpMethod"] == "POST"
    unconditional = ("AlertTopic", "AlertTopicPolicy", "AlertDeliveryFailureQueue")
    assert not any("Condition" in resources[name] for name in unconditional)


def test_the_signals_rule_keeps_its_queue_and_adds_the_topic_and_the_webhook(
    template: dict[str, Any],
) -> None:
    targets = template["Resources"]["StrongSignalsRule"]["Properties"]["Targets"]
    queue, topic, conditional = targets
    assert queue == {"Id": "alert-queue", "Arn": {"Fn::GetAtt": ["AlertQueue", "Arn"]}}
    assert topic["Arn"] == {"Ref": "AlertTopic"} and "InputTransformer" not in topic
    condition, webhook, otherwise = conditional["Fn::If"]
    assert (condition, otherwise) == ("HasAlertWebhook", {"Ref": "AWS::NoValue"})
    assert webhook["Arn"] == {"Fn::GetAtt": ["AlertWebhook", "Arn"]}
    assert webhook["RoleArn"] == {"Fn::GetAtt": ["AlertWebhookRole", "Arn"]}
    assert webhook["InputTransformer"]["InputTemplate"].startswith('{"text": "<coin>')
    failures = {"Arn": {"Fn::GetAtt": ["AlertDeliveryFailureQueue", "Arn"]}}
    assert topic["DeadLetterConfig"] == failures and webhook["DeadLetterConfig"] == failures


def test_eventbridge_may_invoke_only_the_webhook_and_only_for_this_accounts_bus(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["AlertWebhookRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "rule/${SignalsBus.Name}/*" in trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "events:InvokeApiDestination"
    assert statement["Resource"] == {"Fn::GetAtt": ["AlertWebhook", "Arn"]}


def test_only_the_signals_rule_may_publish_alerts_and_only_the_bus_rules_dead_letter(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]

    def arn(rule: str) -> dict[str, Any]:
        return {"Fn::GetAtt": [rule, "Arn"]}

    for name, action, rules in (
        ("AlertTopicPolicy", "sns:Publish", ["StrongSignalsRule"]),
        ("AlertDeliveryFailureQueuePolicy", "sqs:SendMessage",
         ["StrongSignalsRule", "DriftRetrainRule"]),
    ):  # fmt: skip
        statements = _statements_of(resources[name])
        assert [s["Condition"] for s in statements] == [
            {"ArnEquals": {"aws:SourceArn": arn(rule)}} for rule in rules
        ], name
        for statement in statements:
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}, name
            assert statement["Action"] == action, name
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"].get("Fn::GetAtt", [None])[0]
        for a in _of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert "AlertDeliveryFailureQueue" in alarmed


def test_no_output_reveals_the_webhook_or_its_secret(template: dict[str, Any]) -> None:
    secret_sources = ("AlertWebhookSecret", "AlertWebhookUrl", "AlertWebhookConnection")
    for name, output in template["Outputs"].items():
        value = json.dumps(output["Value"])
        assert not any(source in value for source in secret_sources), name
    assert template["Outputs"]["AlertWebhookName"]["Condition"] == "HasAlertWebhook"
