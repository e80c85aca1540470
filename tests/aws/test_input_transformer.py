"""The input transformer the local relay applies to API-destination targets, on EventBridge's
documented examples and on the template's own webhook target. Pure: no server."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cryptosignals.local.input_transformer import TransformError, extract, target_input
from cryptosignals.local.template import load_template
from cryptosignals.model import Signal, SignalType

#: EventBridge's documentation example event.
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE = ("example", "arn:aws:events:us-east-2:123456789012:rule/example")


def _transform(template: str, paths: dict[str, str] = PATHS) -> str:
    target = {"InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}
    return target_input(target, EC2_EVENT, *RULE)


def test_placeholders_give_json_values_outside_strings_and_text_inside_them() -> None:
    body = _transform(
        '{"instance": <instance>, "state": "<state>", '
        '"status": "instance \\"<instance>\\" is in <state>", "mixed": [9, <state>, true]}'
    )
    assert json.loads(body) == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "status": 'instance "i-0123456789" is in RUNNING',
        "mixed": [9, "RUNNING", True],
    }
    assert body == json.dumps(json.loads(body), separators=(",", ":"))  # sent minified


def test_a_text_template_gets_each_value_as_text() -> None:
    assert _transform("<instance> is in state <state>") == "i-0123456789 is in state RUNNING"
    assert _transform('"<aws.events.rule-name> triggered"') == '"example triggered"'


def test_predefined_variables_and_objects_numbers_and_indices() -> None:
    paths = {"detail": "$.detail", "first": "$.resources[0]", "n": "$.version"}
    body = json.loads(
        _transform(
            '{"rule": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, "detail": <detail>, '
            '"first": <first>, "event": <aws.events.event>, "all": <aws.events.event.json>}',
            paths,
        )
    )
    assert body["rule"] == RULE[0] and body["arn"] == RULE[1]
    assert body["detail"] == EC2_EVENT["detail"] and body["first"] == EC2_EVENT["resources"][0]
    assert body["all"] == EC2_EVENT and "detail" not in body["event"]


def test_a_path_that_matches_nothing_leaves_nothing_as_eventbridge_documents() -> None:
    assert _transform('"state <missing>."', {"missing": "$.detail.nope"}) == '"state ."'
    with pytest.raises(TransformError, match="did not produce JSON"):
        _transform('{"state": <missing>}', {"missing": "$.detail.nope"})


def test_values_inside_strings_are_not_escaped_as_eventbridge_documents() -> None:
    with pytest.raises(TransformError, match="neither escapes"):
        _transform('{"detail": "<detail>"}', {"detail": "$.detail"})


def test_unsupported_settings_fail_with_a_clear_error() -> None:
    with pytest.raises(TransformError, match=re.escape("only $.name and [index]")):
        extract(EC2_EVENT, "$.resources[*]")
    with pytest.raises(TransformError, match="must start with"):
        extract(EC2_EVENT, "detail.state")
    with pytest.raises(TransformError, match="<typo> is neither"):
        _transform('{"state": <typo>}')
    with pytest.raises(TransformError, match="ingestion-time> is neither"):
        _transform('{"t": <aws.events.event.ingestion-time>}')
    with pytest.raises(TransformError, match="only be a JSON value"):
        _transform('{"e": "<aws.events.event.json>"}')


def test_targets_without_a_transformer_get_the_event_its_part_or_a_constant() -> None:
    assert json.loads(target_input({}, EC2_EVENT, *RULE)) == EC2_EVENT
    assert json.loads(target_input({"InputPath": "$.detail"}, EC2_EVENT, *RULE)) == {
        "instance-id": "i-0123456789",
        "state": "RUNNING",
    }
    assert target_input({"Input": '{"fixed": 1}'}, EC2_EVENT, *RULE) == '{"fixed": 1}'


def _webhook_target() -> dict[str, Any]:
    targets = load_template()["Resources"]["StrongSignalsRule"]["Properties"]["Targets"]
    (conditional,) = [t for t in targets if "Fn::If" in t]
    condition, target, otherwise = conditional["Fn::If"]
    assert condition == "HasAlertWebhook" and otherwise == {"Ref": "AWS::NoValue"}
    return dict(target)


def test_the_templates_webhook_body_is_chat_json_with_the_whole_signal() -> None:
    signal = Signal(
        "bitcoin",
        1_700_000_000,
        SignalType.BUY,
        "rsi_oversold",
        "1h",
        67000.5,
        0.72,
        evaluation_horizon="1h",
        evidence={"n": 41.0, "hit_rate": 0.61},
        actionable=True,
    )
    event = {**EC2_EVENT, "source": "cryptosignals.engine", "detail": signal.to_json()}
    body = json.loads(target_input(_webhook_target(), event, *RULE))
    line = "bitcoin BUY rsi_oversold (1h) at 67000.5 (confidence 0.72)"
    assert body == {"text": line, "content": line, "signal": signal.to_json()}


def test_the_webhook_reads_only_fields_every_signal_has() -> None:
    """A missing value would drop its placeholder and, unquoted, break the JSON on AWS."""
    paths = _webhook_target()["InputTransformer"]["InputPathsMap"]
    minimal = Signal("x", 0, SignalType.SELL, "r", "5m", 1.0, 0.0).to_json()
    for name, path in paths.items():
        assert path == "$.detail" or path.removeprefix("$.detail.") in minimal, name
