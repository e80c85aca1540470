"""AWS errors mapped onto the project's classes, once (see cryptosignals.errors)."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from cryptosignals.errors import PermanentError, RetryableError

#: Error codes after which the same call may succeed: Kinesis redelivers / we retry.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottlingException",
        "LimitExceededException",
        "TransactionConflictException",
    }
)


def classify(exc: Exception, action: str) -> Exception:
    """A botocore error -> RetryableError or PermanentError naming the action."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = f"{action}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        if code in RETRYABLE_CODES or status >= 500:
            return RetryableError(message)
        return PermanentError(message)
    if isinstance(exc, BotoCoreError):  # connection errors, timeouts
        return RetryableError(f"{action}: {exc}")
    return exc
