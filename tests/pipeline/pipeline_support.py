"""Reading back what the pipeline stored, for the proofs of this folder."""

from __future__ import annotations

from typing import Any

from cryptosignals.aws.dynamo import all_items
from cryptosignals.aws.store import _deserialize
from cryptosignals.local.stack import LocalStack

SIGNALS_BY_COIN = "crypto_id-timestamp-index"


def coin_items(stack: LocalStack, table: str, coin: str, index: str | None = None) -> list[Any]:
    """Every item of one coin in a table (or through one of its indexes), all pages."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "crypto_id = :c",
        "ExpressionAttributeValues": {":c": {"S": coin}},
        **({"IndexName": index} if index else {}),
    }
    return [_deserialize(i) for i in all_items(stack.client("dynamodb"), "query", **request)]
