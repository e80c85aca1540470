"""Ingest: one CoinGecko call for the tracked coins -> validated ticks -> Kinesis.

A quote whose `last_updated_at` has not changed since the last run is not sent again (the
per-coin cursor lives in the engine-state table under `_ingest`). Failures after the client's
own retries count in the IngestFailures metric and fail the invocation (alarmed on).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from cryptosignals.aws import AwsSettings, Store, TickProducer

logger = Logger()
metrics = Metrics()
_clients: dict[Any, Any] = {}


def _coingecko() -> Any:
    """The CoinGecko client, created once per container and configuration (the key is read
    from Secrets Manager once); a changed configuration is a new container on Lambda."""
    from cryptosignals import settings
    from cryptosignals.coingecko.client import CoinGeckoClient

    config = settings.coingecko()
    if config not in _clients:
        _clients[config] = CoinGeckoClient.from_settings(config)
    return _clients[config]


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = AwsSettings.from_env()
    store = Store(settings)
    try:
        quotes = _coingecko().markets(ids=settings.tracked_coins)
        cursor = store.get_ingest_cursor()
        fresh = [t for t in quotes.ticks.values() if t.timestamp > cursor.get(t.crypto_id, 0)]
        report = TickProducer(settings).send(fresh)
        cursor.update({t.crypto_id: t.timestamp for t in fresh})
        store.put_ingest_cursor(cursor)
    except Exception:
        metrics.add_metric(name="IngestFailures", unit=MetricUnit.Count, value=1)
        logger.exception("ingest failed")
        raise
    for coin, reason in quotes.rejected.items():
        logger.warning("coin rejected", extra={"coin": coin, "reason": reason})
    metrics.add_metric(name="TicksFetched", unit=MetricUnit.Count, value=len(quotes.ticks))
    metrics.add_metric(name="TicksSent", unit=MetricUnit.Count, value=report.sent)
    metrics.add_metric(
        name="UnchangedQuotesSkipped", unit=MetricUnit.Count, value=len(quotes.ticks) - len(fresh)
    )
    metrics.add_metric(name="CoinsRejected", unit=MetricUnit.Count, value=len(quotes.rejected))
    return {
        "fetched": len(quotes.ticks),
        "sent": report.sent,
        "skipped": len(quotes.ticks) - len(fresh),
        "rejected": quotes.rejected,
    }
