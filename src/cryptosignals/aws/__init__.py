"""The AWS side of the pipeline, thin: what the Lambda handlers use to reach AWS.

- `AwsSettings` / `clients`: names from the environment, boto3 clients created once per container
  (pointed at the emulator by `AWS_ENDPOINT_URL`, with no code change);
- `Store`: the four DynamoDB tables, every write idempotent;
- `TickProducer`: ticks onto Kinesis (partition key = coin id), resending only failed records;
- `SignalPublisher`: one EventBridge event per signal on the signals bus.
"""

from cryptosignals.aws.config import AwsSettings, clients
from cryptosignals.aws.events import SignalPublisher
from cryptosignals.aws.kinesis import TickProducer
from cryptosignals.aws.store import StateConflictError, Store, StoredState

__all__ = [
    "AwsSettings",
    "SignalPublisher",
    "StateConflictError",
    "Store",
    "StoredState",
    "TickProducer",
    "clients",
]
