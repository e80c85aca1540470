"""The client's typed errors, placed in the project's hierarchy (retryable / permanent / bad input).

Every error carries the HTTP status and CoinGecko's error code when there was one, and a message
that never contains the API key (messages are built from the response, then scrubbed).
"""

from __future__ import annotations

from cryptosignals.errors import (
    BadInputError,
    CryptoSignalsError,
    PermanentError,
    RetryableError,
)


class CoinGeckoError(CryptoSignalsError):
    """A failed CoinGecko call: `status` (HTTP) and `code` (CoinGecko's) when known."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


# --- retryable ---------------------------------------------------------------------------------
class RateLimitedError(CoinGeckoError, RetryableError):
    """HTTP 429 with CoinGecko's JSON body (or none): wait `retry_after` seconds."""


class CloudflareBlockedError(CoinGeckoError, RetryableError):
    """Cloudflare's `error code: 1015` rate-limit ban: back off for minutes, not seconds."""


class ServerError(CoinGeckoError, RetryableError):
    """HTTP 408 or 5xx, JSON or a Cloudflare HTML page."""


class RequestTimeoutError(CoinGeckoError, RetryableError):
    """No answer within the request timeout."""


class ConnectionFailedError(CoinGeckoError, RetryableError):
    """The connection could not be made or broke."""


class TimeBudgetExceededError(CoinGeckoError, RetryableError):
    """The call (with its retries and rate-limit waits) would outlive its time budget."""


# --- permanent ---------------------------------------------------------------------------------
class AuthenticationError(CoinGeckoError, PermanentError):
    """Missing or invalid key, or a key of the wrong plan for the host (10002, 10010, 10011)."""


class AccessDeniedError(CoinGeckoError, PermanentError):
    """HTTP 403: blocked (Cloudflare 1020 and the like)."""


class PlanLimitError(CoinGeckoError, PermanentError):
    """The plan does not allow this (10012: beyond 365 days of history; 10005: paid endpoint)."""


class CoinNotFoundError(CoinGeckoError, PermanentError):
    """HTTP 404 `coin not found` for `/coins/{id}/...`."""


class InvalidRequestError(CoinGeckoError, PermanentError):
    """Other 4xx: invalid vs_currency, OHLC days outside the allowed set, bad page size..."""


class QuotaExhaustedError(CoinGeckoError, PermanentError):
    """The configured monthly call budget is spent; no call is made."""


# --- bad input (the answer) --------------------------------------------------------------------
class MalformedResponseError(CoinGeckoError, BadInputError):
    """A 2xx answer that is not JSON, is truncated, or does not have the documented shape."""
