"""Reading back what the pipeline stored, for the proofs of this folder."""

from __future__ import annotations

from typing import Any

from cryptosignals.aws.store import _deserialize
from cryptosignals.local.stack import LocalStack

SIGNALS_BY_COIN = "crypto_id-timestamp-index"


def coin_items(stack: LocalStack, table: str, coin: str, index: str | None = None) -> list[Any]:
    """Every item of one coin in a table (or through one of its indexes), all pages."""
    client, items = stack.client("dynamodb"), []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "crypto_id = :c",
        "ExpressionAttributeValues": {":c": {"S": coin}},
        **({"IndexName": index} if index else {}),
    }
    while True:
        page = client.query(**kwargs)
        items += [_deserialize(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
