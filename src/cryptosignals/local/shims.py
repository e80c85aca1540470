"""Patches that make moto a faithful enough emulator for this project.

moto is pinned (MOTO_VERSION) because these touch its internals; `apply()` checks each patch
took and raises `ShimError` otherwise, so a moto upgrade that breaks them fails loudly instead
of silently skipping resources. Facts behind each patch: docs/aws.md ("The local stack").

1. Kinesis puts are O(1): stock `Shard.get_max_sequence_number` copies every key on each put,
   so puts slow from ~9k rec/s to ~760 rec/s as a shard fills.
2. moto's own event-source-mapping "invoke" on each Kinesis put is disabled: it needs Docker,
   only logs an error here, and our poller (cryptosignals.local.runtime) does the real work.
3. CloudFormation models for AWS::CloudWatch::Alarm, AWS::SecretsManager::Secret,
   AWS::SQS::QueuePolicy, AWS::Lambda::EventInvokeConfig, AWS::SNS::TopicPolicy,
   AWS::SNS::Subscription, AWS::Events::Connection and AWS::Events::ApiDestination: without
   them moto skips these types with only a log line and still reports CREATE_COMPLETE.
4. A list item that resolves to AWS::NoValue (a rule target behind `!If`) is removed, as
   CloudFormation does; moto keeps it as a null that breaks the resource.
5. An EventBridge rule publishes to its SNS targets; moto raises NotImplementedError for them,
   so every PutEvents an alert rule matches would answer HTTP 500. It skips Step Functions
   targets, on which moto raises the same: the drift rule's executions are started by
   cryptosignals.local.rule_executions, outside the emulator, as API-destination targets are
   delivered by cryptosignals.local.api_destinations.
6. An AWS::Lambda::Function keeps its PackageType and ImageConfig: moto's CloudFormation drops
   them, so an image function (the training function) would have no handler to run.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any, ClassVar

import moto
from moto.cloudformation import parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp
from moto.events.models import Rule, events_backends
from moto.events.utils import EventTemplateParser
from moto.kinesis.models import Shard
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from cryptosignals.errors import PermanentError

MOTO_VERSION = "5.2.5"


class ShimError(PermanentError):
    """A shim did not take: the installed moto is not the version the shims were written for."""


def _max_sequence_number(self: Shard) -> int:
    return next(reversed(self.records)) if self.records else 0


def _no_moto_lambda_invoke(self: Any, *args: Any, **kwargs: Any) -> None:
    """moto would try Docker for every record; cryptosignals.local.runtime polls instead."""


class _Shim:
    """What every shimmed type declares alike to moto's template parser: its type, the property
    that names it, its GetAtt attributes (name -> instance attribute) and a physical id. A mixin,
    not a CloudFormationModel: moto registers every subclass of that as a resource type."""

    CFN_TYPE: ClassVar[str]
    NAME_TYPE: ClassVar[str] = ""
    ATTRIBUTES: ClassVar[dict[str, str]] = {}
    physical_id: str

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_TYPE

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name in self.ATTRIBUTES:
            return str(getattr(self, self.ATTRIBUTES[attribute_name]))
        raise parsing.UnformattedGetAttTemplateException()


class CfnAlarm(_Shim, CloudFormationModel):
    """AWS::CloudWatch::Alarm, stored through moto's own CloudWatch backend (never evaluated)."""

    CFN_TYPE, NAME_TYPE, ATTRIBUTES = "AWS::CloudWatch::Alarm", "AlarmName", {"Arn": "arn"}

    def __init__(self, alarm: Any) -> None:
        self.alarm = alarm
        self.physical_id, self.arn = str(alarm.name), str(alarm.alarm_arn)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnAlarm:
        props = cloudformation_json.get("Properties", {})
        backend = cloudwatch_backends[account_id][region_name]
        datapoints = props.get("DatapointsToAlarm")
        alarm = backend.put_metric_alarm(
            name=resource_name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props.get("Period", 60)),
            threshold=float(props["Threshold"]),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            datapoints_to_alarm=int(datapoints) if datapoints is not None else None,
            unit=props.get("Unit"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=props.get("TreatMissingData"),
        )
        return cls(alarm)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnAlarm,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnAlarm:
        cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.alarm.name])
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


class CfnSecret(_Shim, CloudFormationModel):
    """AWS::SecretsManager::Secret through moto's backend; Ref gives the ARN, as on AWS."""

    CFN_TYPE, NAME_TYPE, ATTRIBUTES = "AWS::SecretsManager::Secret", "Name", {"Id": "arn"}

    def __init__(self, arn: str, name: str) -> None:
        self.physical_id = self.arn = arn  # Ref gives the ARN
        self.name = name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnSecret:
        props = cloudformation_json.get("Properties", {})
        value = props.get("SecretString")
        generate = props.get("GenerateSecretString")
        if value is None and generate is not None:
            length = int(generate.get("PasswordLength", 32))
            value = "".join(
                secrets.choice(string.ascii_letters + string.digits) for _ in range(length)
            )
        backend = secretsmanager_backends[account_id][region_name]
        backend.create_secret(
            name=resource_name,
            secret_string=value,
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags", []),
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(str(backend.secrets[resource_name].arn), resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnSecret,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnSecret:
        return original_resource  # the value is set out of band (put-secret-value), as on AWS

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(resource_name, None, True)


class CfnQueuePolicy(_Shim, CloudFormationModel):
    """AWS::SQS::QueuePolicy: sets the Policy attribute of each listed queue (not enforced)."""

    CFN_TYPE, ATTRIBUTES = "AWS::SQS::QueuePolicy", {"Id": "physical_id"}

    def __init__(self, physical_id: str, queue_urls: list[str]) -> None:
        self.physical_id = physical_id
        self.queue_urls = queue_urls

    @classmethod
    def _set(cls, props: dict[str, Any], account_id: str, region_name: str, policy: str) -> None:
        backend = sqs_backends[account_id][region_name]
        for url in props.get("Queues", []):
            backend.set_queue_attributes(url.rstrip("/").rsplit("/", 1)[-1], {"Policy": policy})

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnQueuePolicy:
        import json

        props = cloudformation_json.get("Properties", {})
        cls._set(props, account_id, region_name, json.dumps(props.get("PolicyDocument", {})))
        return cls(resource_name, list(props.get("Queues", [])))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnQueuePolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnQueuePolicy:
        return cls.create_from_cloudformation_json(
            original_resource.physical_id, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cls._set(cloudformation_json.get("Properties", {}), account_id, region_name, "")


class CfnEventInvokeConfig(_Shim, CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig through moto's Lambda backend (async retry settings)."""

    CFN_TYPE = "AWS::Lambda::EventInvokeConfig"

    def __init__(self, function_name: str) -> None:
        self.physical_id = self.function_name = function_name

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnEventInvokeConfig:
        from moto.awslambda.models import lambda_backends

        from cryptosignals.local.runtime import function_name

        props = cloudformation_json.get("Properties", {})
        name = function_name(str(props["FunctionName"]))
        config = {
            key: int(props[key]) if key != "DestinationConfig" else props[key]
            for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
            if key in props
        }
        lambda_backends[account_id][region_name].put_function_event_invoke_config(name, config)
        return cls(name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnEventInvokeConfig,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnEventInvokeConfig:
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[account_id][region_name]
        backend.delete_function_event_invoke_config(original_resource.function_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Nothing to undo: the function's deletion removes its invoke config."""


class CfnTopicPolicy(_Shim, CloudFormationModel):
    """AWS::SNS::TopicPolicy: sets the policy of each listed topic (stored, not enforced)."""

    CFN_TYPE, ATTRIBUTES = "AWS::SNS::TopicPolicy", {"Id": "physical_id"}

    def __init__(self, physical_id: str) -> None:
        self.physical_id = physical_id

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnTopicPolicy:
        props = cloudformation_json.get("Properties", {})
        backend = sns_backends[account_id][region_name]
        for topic_arn in props.get("Topics", []):
            backend.set_topic_attribute(topic_arn, "policy", json.dumps(props["PolicyDocument"]))
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnTopicPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnTopicPolicy:
        return cls.create_from_cloudformation_json(
            original_resource.physical_id, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Nothing to undo that matters locally: the topic goes with the stack."""


class CfnSubscription(_Shim, CloudFormationModel):
    """AWS::SNS::Subscription (TopicArn, Protocol, Endpoint) through moto's SNS backend; moto
    confirms it at once, where AWS mails an e-mail endpoint a confirmation link first."""

    CFN_TYPE, ATTRIBUTES = "AWS::SNS::Subscription", {"Arn": "physical_id"}

    def __init__(self, arn: str) -> None:
        self.physical_id = arn  # Ref gives the subscription ARN

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnSubscription:
        props = cloudformation_json.get("Properties", {})
        backend = sns_backends[account_id][region_name]
        subscription = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
        return cls(str(subscription.arn))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnSubscription,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnSubscription:
        sns_backends[account_id][region_name].unsubscribe(original_resource.physical_id)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Nothing to undo: deleting the topic removes its subscriptions."""


class CfnConnection(_Shim, CloudFormationModel):
    """AWS::Events::Connection through moto's backend, which keeps the auth parameters in a
    managed secret as EventBridge does (Ref: the name; GetAtt Arn, SecretArn)."""

    CFN_TYPE, NAME_TYPE = "AWS::Events::Connection", "Name"
    ATTRIBUTES: ClassVar[dict[str, str]] = {"Arn": "arn", "SecretArn": "secret_arn"}

    def __init__(self, name: str, arn: str, secret_arn: str) -> None:
        self.physical_id, self.arn, self.secret_arn = name, arn, secret_arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnConnection:
        props = cloudformation_json.get("Properties", {})
        connection = events_backends[account_id][region_name].create_connection(
            resource_name,
            props.get("Description", ""),
            props["AuthorizationType"],
            props["AuthParameters"],
        )
        return cls(resource_name, str(connection.arn), str(connection.secret_arn))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnConnection,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnConnection:
        events_backends[account_id][region_name].delete_connection(original_resource.physical_id)
        return cls.create_from_cloudformation_json(
            original_resource.physical_id, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        events_backends[account_id][region_name].delete_connection(resource_name)


class CfnApiDestination(_Shim, CloudFormationModel):
    """AWS::Events::ApiDestination through moto's backend (Ref: the name; GetAtt Arn). moto
    never calls it; cryptosignals.local.api_destinations does."""

    CFN_TYPE, NAME_TYPE, ATTRIBUTES = "AWS::Events::ApiDestination", "Name", {"Arn": "arn"}

    def __init__(self, name: str, arn: str) -> None:
        self.physical_id, self.arn = name, arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnApiDestination:
        props = cloudformation_json.get("Properties", {})
        described = events_backends[account_id][region_name].create_api_destination(
            resource_name,
            props.get("Description", ""),
            props["ConnectionArn"],
            props["InvocationEndpoint"],
            str(props.get("InvocationRateLimitPerSecond", 300)),
            props["HttpMethod"],
        )
        return cls(resource_name, str(described["ApiDestinationArn"]))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: CfnApiDestination,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnApiDestination:
        backend = events_backends[account_id][region_name]
        backend.delete_api_destination(original_resource.physical_id)
        return cls.create_from_cloudformation_json(
            original_resource.physical_id, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        events_backends[account_id][region_name].delete_api_destination(resource_name)


_MODELS = (
    CfnAlarm,
    CfnSecret,
    CfnQueuePolicy,
    CfnEventInvokeConfig,
    CfnTopicPolicy,
    CfnSubscription,
    CfnConnection,
    CfnApiDestination,
)
#: The CloudFormation types the shims add to moto.
SHIMMED_TYPES = tuple(m.cloudformation_type() for m in _MODELS)


_MOTO_CLEAN_JSON = parsing.clean_json


def _clean_json(resource_json: Any, resources_map: Any) -> Any:
    """moto's template resolution, except that a list item resolving to AWS::NoValue is removed
    (as CloudFormation does), so `- !If [Cond, {...}, !Ref AWS::NoValue]` leaves no null."""
    if isinstance(resource_json, list):
        cleaned = (_clean_json(item, resources_map) for item in resource_json)
        return [item for item in cleaned if item is not None]
    return _MOTO_CLEAN_JSON(resource_json, resources_map)


_MOTO_SEND_TO_TARGETS = Rule.send_to_targets


class _OtherTargets:
    """The rule as moto's own delivery sees it: every target but the SNS ones."""

    def __init__(self, rule: Rule, targets: list[dict[str, Any]]) -> None:
        self._rule, self.targets = rule, targets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rule, name)


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    """moto's delivery, plus SNS targets: the (transformed) event JSON published to the topic,
    which fans it out to its subscriptions as SNS does. Step Functions targets are left to the
    local stack's `RuleExecutions` (through its tap): moto raises NotImplementedError on them."""
    topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
    others = [t for t in self.targets
              if t not in topics and parse_arn(t["Arn"]).service != "states"]  # fmt: skip
    moto_view: Any = _OtherTargets(self, others)
    _MOTO_SEND_TO_TARGETS(moto_view, original_event, transform_input)
    if not topics or not self.event_pattern.matches_event(original_event):
        return
    for target in topics:
        if transform_input:
            transformer = target.get("InputTransformer", {})
            event = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=original_event,
            )
        else:
            event = dict(original_event)
        if "time" in event:  # as moto's SQS delivery does: epoch seconds -> ISO 8601
            event["time"] = iso_8601_datetime_without_milliseconds(
                utcfromtimestamp(int(float(event["time"])))
            )
        arn = parse_arn(target["Arn"])
        sns_backends[arn.account][arn.region].publish(message=json.dumps(event), arn=target["Arn"])


_MOTO_CREATE_FUNCTION: Any = None


def _create_function_keeping_image(
    cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    """moto's AWS::Lambda::Function, plus the image settings it drops (PackageType, ImageConfig:
    an image function's handler is its ImageConfig.Command)."""
    from moto.awslambda.models import ImageConfig

    function = _MOTO_CREATE_FUNCTION(resource_name, cloudformation_json, *args, **kwargs)
    props = cloudformation_json.get("Properties", {})
    if props.get("PackageType"):
        function.package_type = props["PackageType"]
    if props.get("ImageConfig"):
        function.image_config = ImageConfig(props["ImageConfig"])
    return function


def apply() -> None:
    """Install every patch (idempotent) and verify it took; raise ShimError if not."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    if moto.__version__ != MOTO_VERSION:
        raise ShimError(
            f"the local stack's shims are written for moto {MOTO_VERSION}, found {moto.__version__}"
        )
    Shard.get_max_sequence_number = _max_sequence_number  # type: ignore[method-assign]
    LambdaBackend.send_kinesis_message = _no_moto_lambda_invoke  # type: ignore[method-assign]
    parsing.clean_json = _clean_json
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    global _MOTO_CREATE_FUNCTION
    current = LambdaFunction.__dict__["create_from_cloudformation_json"].__func__
    if current is not _create_function_keeping_image:
        _MOTO_CREATE_FUNCTION = LambdaFunction.create_from_cloudformation_json
        LambdaFunction.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
            _create_function_keeping_image
        )
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    verify()


def verify() -> None:
    """Raise ShimError naming every patch that is not in force in this process."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    problems = []
    if Shard.get_max_sequence_number is not _max_sequence_number:
        problems.append("Kinesis Shard.get_max_sequence_number is not the O(1) version")
    if LambdaBackend.send_kinesis_message is not _no_moto_lambda_invoke:
        problems.append("moto's Docker invoke on Kinesis puts is still active")
    if parsing.clean_json is not _clean_json:
        problems.append("CloudFormation keeps AWS::NoValue list items as nulls")
    if Rule.send_to_targets is not _send_to_targets:
        problems.append("EventBridge rules do not publish to SNS targets")
    create = LambdaFunction.__dict__["create_from_cloudformation_json"]
    if getattr(create, "__func__", None) is not _create_function_keeping_image:
        problems.append("image functions lose their PackageType and ImageConfig")
    models = parsing.get_model_map()
    for model in _MODELS:
        if models.get(model.cloudformation_type()) is not model:
            problems.append(f"no CloudFormation model for {model.cloudformation_type()}")
    if problems:
        raise ShimError("moto shims not in force: " + "; ".join(problems))
