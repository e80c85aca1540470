"""Deployed model artifacts (stream side): a coin's newest one, in a folder or under s3://.

The training function writes one JSON artifact per coin and kind, named
`<coin>_<what>_<last training day YYYYMMDD>.json` under a prefix of the models bucket
(`p_up/` for P(up) models, `volatility/` for refitted volatility forecasts;
cryptosignals.models.training). The process function lists a prefix once for all its coins and
reads a coin's newest artifact by the day in its name. boto3 is imported only for s3:// sources:
it is in the Lambda runtime already.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptosignals.errors import BadInputError

try:  # the stream has orjson (the aws extra): a 0.5 MB P(up) model in 2 ms instead of 12
    from orjson import loads
except ImportError:  # pragma: no cover - the CLI without the aws extra
    from json import loads  # type: ignore[assignment]


def artifact_day(name: str) -> tuple[str, str]:
    """Sort key of an artifact name `<coin>_..._<YYYYMMDD>.json`: its day, then the name (the
    newest training window last)."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".json")
    return stem.rsplit("_", 1)[-1], stem


def bucket_prefix(source: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/")."""
    bucket, _, prefix = source[5:].partition("/")
    return bucket, prefix.rstrip("/") + "/" if prefix.strip("/") else ""


def artifact_keys(source: str) -> tuple[str, ...]:
    """Every artifact key under `s3://bucket/prefix` (one listing for all coins: the process
    function lists once per container, not once per coin)."""
    from cryptosignals.aws.config import clients

    bucket, prefix = bucket_prefix(source)
    keys: list[str] = []
    for page in (
        clients("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    return tuple(keys)


def newest_artifact(
    stem: str, source: str | Path, listing: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], str] | None:
    """The newest artifact whose name starts with `stem` (e.g. `bitcoin_up_`), by the day in
    its name, in a folder or under `s3://bucket/prefix` (`listing`: that prefix's keys, listed
    once by the caller), as parsed JSON with where it came from; None if there is none.
    BadInputError if it is not a JSON object; botocore's errors as they come (the caller decides
    whether to retry)."""
    text = str(source)
    if not text.startswith("s3://"):
        found = sorted(Path(source).glob(f"{stem}*.json"), key=lambda p: artifact_day(p.name))
        if not found:
            return None
        where, body = str(found[-1]), found[-1].read_bytes()
    else:
        from cryptosignals.aws.config import clients

        bucket, prefix = bucket_prefix(text)
        keys = [k for k in (artifact_keys(text) if listing is None else listing)
                if k.startswith(f"{prefix}{stem}")]  # fmt: skip
        if not keys:
            return None
        key = max(keys, key=artifact_day)
        where = f"s3://{bucket}/{key}"
        body = clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        data = loads(body)
    except ValueError as exc:
        raise BadInputError(f"{where}: cannot read the model artifact ({exc})") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{where}: the model artifact is not a JSON object")
    return data, where
