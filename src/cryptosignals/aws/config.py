"""AWS names and clients, from the environment the template gives each function.

The variable names are the template's (template.yaml, Globals.Function.Environment); the
CoinGecko ones live in cryptosignals.settings. Clients are created once per process and
endpoint, as a Lambda container keeps them between invocations.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from cryptosignals.errors import BadInputError, RetryableError

RAW_TABLE = "RAW_TABLE"
AGGREGATED_TABLE = "AGGREGATED_TABLE"
SIGNALS_TABLE = "SIGNALS_TABLE"
ENGINE_STATE_TABLE = "ENGINE_STATE_TABLE"
STREAM_NAME = "STREAM_NAME"
SIGNALS_BUS = "SIGNALS_BUS"
DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"
RAW_TTL_DAYS = "RAW_TTL_DAYS"
TRACKED_COINS = "TRACKED_COINS"
EVIDENCE_HISTORY = "EVIDENCE_HISTORY"
FITTED_MODELS = "FITTED_MODELS"
MODELS = "MODELS"
MODEL_REFRESH_SECONDS = "MODEL_REFRESH_SECONDS"
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
AWS_REGION = "AWS_REGION"


def _get(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip() or default
    if value is None:
        raise BadInputError(f"environment variable {name} is not set (see template.yaml)")
    return value


def _seconds(name: str, default: float) -> float:
    """A duration in seconds from the environment: 0 or more, else a clear error."""
    text = _get(name, str(default))
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{name} must be a number of seconds, got {text!r}") from None
    if not value >= 0:
        raise BadInputError(f"{name} must be 0 or more seconds, got {text!r}")
    return value


@dataclass(frozen=True)
class AwsSettings:
    """Resource names and knobs of the deployed stack; defaults are the template's defaults."""

    raw_table: str = "crypto_raw_data"
    aggregated_table: str = "crypto_aggregated_data"
    signals_table: str = "trading_signals"
    engine_state_table: str = "engine_state"
    stream_name: str = "lambda-stream"
    signals_bus: str = "trading-signals"
    dead_letter_queue_url: str | None = None
    raw_ttl_days: int = 30
    tracked_coins: tuple[str, ...] = ("bitcoin", "ethereum", "solana", "cardano")
    evidence_history: str | None = None  # `cryptosignals evidence` output: the warm start
    fitted_models: str | None = None  # a models file (cryptosignals.fitted); None: the bundled
    # the trained models served (a folder or s3://bucket/prefix holding p_up/, volatility/ and
    # metalabel/: what the training function wrote); None: FITTED_MODELS' only, no P(up), no filter
    models: str | None = None
    model_refresh_seconds: float = 3600.0  # deployed models are read again this often (0: always)
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_env(cls) -> AwsSettings:
        """Read every variable now (a test may change them between calls)."""
        ttl_text = _get(RAW_TTL_DAYS, "30")
        try:
            ttl = int(float(ttl_text))
        except ValueError:
            raise BadInputError(
                f"{RAW_TTL_DAYS} must be a number of days, got {ttl_text!r}"
            ) from None
        if ttl < 1:
            raise BadInputError(f"{RAW_TTL_DAYS} must be at least 1, got {ttl}")
        coins = tuple(
            c.strip() for c in _get(TRACKED_COINS, ",".join(cls.tracked_coins)).split(",")
        )
        return cls(
            raw_table=_get(RAW_TABLE, cls.raw_table),
            aggregated_table=_get(AGGREGATED_TABLE, cls.aggregated_table),
            signals_table=_get(SIGNALS_TABLE, cls.signals_table),
            engine_state_table=_get(ENGINE_STATE_TABLE, cls.engine_state_table),
            stream_name=_get(STREAM_NAME, cls.stream_name),
            signals_bus=_get(SIGNALS_BUS, cls.signals_bus),
            dead_letter_queue_url=os.environ.get(DEAD_LETTER_QUEUE_URL) or None,
            raw_ttl_days=ttl,
            tracked_coins=tuple(c for c in coins if c),
            evidence_history=os.environ.get(EVIDENCE_HISTORY, "").strip() or None,
            fitted_models=os.environ.get(FITTED_MODELS, "").strip() or None,
            models=os.environ.get(MODELS, "").strip() or None,
            model_refresh_seconds=_seconds(MODEL_REFRESH_SECONDS, 3600.0),
            endpoint_url=os.environ.get(AWS_ENDPOINT_URL) or None,
            region=os.environ.get(AWS_REGION)
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        )


@lru_cache(maxsize=32)
def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    import boto3
    import botocore.config

    config = botocore.config.Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
    )
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, config=config)


def clients(service: str, settings: AwsSettings | None = None) -> Any:
    """The process-wide client for a service at the settings' endpoint and region."""
    settings = settings or AwsSettings.from_env()
    return _client(service, settings.endpoint_url, settings.region)


class AwsAdapter:
    """Base of the adapters over one AWS service (Store, TickProducer, SignalPublisher): the
    settings, the service's client, and how retries of partial failures are paced."""

    service: ClassVar[str]

    def __init__(
        self,
        settings: AwsSettings | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 5,
    ) -> None:
        self.settings = settings or AwsSettings.from_env()
        self._client = client
        self._sleep = sleep
        self._max_attempts = max_attempts

    @property
    def client(self) -> Any:
        """The service's client, made at first use: a cold start whose first batch has nothing
        to publish does not make the EventBridge one (botocore loads each service's model)."""
        if self._client is None:
            self._client = clients(self.service, self.settings)
        return self._client

    def _until_accepted(self, send: Callable[[Any], Any], pending: Any, what: str) -> None:
        """Send `pending`; `send` returns the part the service did not take (unprocessed
        items, failed entries), which is sent again after a growing pause (0.05 s, 0.1 s, ...
        at most 2 s), `max_attempts` sends in all; then RetryableError (Kinesis redelivers)."""
        for attempt in range(self._max_attempts):
            pending = send(pending)
            if not pending:
                return
            if attempt + 1 < self._max_attempts:
                self._sleep(min(2.0, 0.05 * 2**attempt))
        raise RetryableError(f"{what}: still not accepted after {self._max_attempts} attempts")
