"""All configuration read from the environment, in one place; each variable is named once here.

Read through the functions below (they read the environment at call time, so a test can set a
variable with monkeypatch). A value that cannot be used fails with a `BadInputError` naming the
variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptosignals.errors import BadInputError

# --- CoinGecko -----------------------------------------------------------------------------------
COINGECKO_PLAN = "COINGECKO_PLAN"  # public | demo | pro (default demo)
COINGECKO_API_KEY = "COINGECKO_API_KEY"  # the key itself (never logged)
COINGECKO_API_KEY_SECRET = "COINGECKO_API_KEY_SECRET"  # Secrets Manager secret id holding the key
COINGECKO_API_KEY_PARAM = "COINGECKO_API_KEY_PARAM"  # SSM parameter name (SecureString) instead
COINGECKO_API_URL = "COINGECKO_API_URL"  # override of the plan's base URL (the replay server)
COINGECKO_RATE_LIMIT_PER_MIN = "COINGECKO_RATE_LIMIT_PER_MIN"  # token bucket; default 30 on Demo
COINGECKO_MONTHLY_BUDGET = "COINGECKO_MONTHLY_BUDGET"  # calls a month; default 10,000 on Demo
COINGECKO_CALL_COUNTER_FILE = "COINGECKO_CALL_COUNTER_FILE"  # where the month's count persists
COINGECKO_INGEST_CADENCE_MIN = "COINGECKO_INGEST_CADENCE_MIN"  # minutes between polls, default 5
COINGECKO_TIME_BUDGET_S = "COINGECKO_TIME_BUDGET_S"  # total seconds for one call with its retries
COINGECKO_TIMEOUT_S = "COINGECKO_TIMEOUT_S"  # read timeout of one request

#: Per-plan defaults: calls a minute, calls a month (None = not limited by us).
PLAN_DEFAULTS: dict[str, tuple[float, int | None]] = {
    "public": (5.0, 10_000),
    "demo": (30.0, 10_000),
    "pro": (500.0, None),
}

# --- Alerts on the local stack ------------------------------------------------------------------
ALERT_WEBHOOK_SECRET = "ALERT_WEBHOOK_SECRET"  # `local up --alert-webhook-url`'s header value


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _float(name: str, default: float, *, minimum: float = 0.0) -> float:
    text = _env(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{name} must be a number, got {text!r}") from None
    if not value > minimum:
        raise BadInputError(f"{name} must be greater than {minimum:g}, got {text!r}")
    return value


@dataclass(frozen=True)
class CoinGeckoSettings:
    """How the CoinGecko client is configured. `api_key` is deliberately not here: see
    `cryptosignals.coingecko.client.resolve_api_key`, which keeps it out of reprs."""

    plan: str
    api_url: str | None
    api_key_secret: str | None
    api_key_param: str | None
    rate_limit_per_min: float
    monthly_budget: int | None
    call_counter_file: str | None
    ingest_cadence_min: float
    time_budget_s: float
    timeout_s: float


def coingecko() -> CoinGeckoSettings:
    """The CoinGecko settings from the environment, with the plan's defaults."""
    plan = (_env(COINGECKO_PLAN) or "demo").lower()
    if plan not in PLAN_DEFAULTS:
        raise BadInputError(f"{COINGECKO_PLAN} must be one of public, demo, pro; got {plan!r}")
    rate, budget = PLAN_DEFAULTS[plan]
    budget_text = _env(COINGECKO_MONTHLY_BUDGET)
    if budget_text is not None:
        budget = int(_float(COINGECKO_MONTHLY_BUDGET, 0.0))
    return CoinGeckoSettings(
        plan=plan,
        api_url=_env(COINGECKO_API_URL),
        api_key_secret=_env(COINGECKO_API_KEY_SECRET),
        api_key_param=_env(COINGECKO_API_KEY_PARAM),
        rate_limit_per_min=_float(COINGECKO_RATE_LIMIT_PER_MIN, rate),
        monthly_budget=budget,
        call_counter_file=_env(COINGECKO_CALL_COUNTER_FILE),
        ingest_cadence_min=_float(COINGECKO_INGEST_CADENCE_MIN, 5.0),
        time_budget_s=_float(COINGECKO_TIME_BUDGET_S, 60.0),
        timeout_s=_float(COINGECKO_TIMEOUT_S, 20.0),
    )


def coingecko_api_key_from_env() -> str | None:
    """The raw key from `COINGECKO_API_KEY`; callers wrap it at once (see `ApiKey`)."""
    return _env(COINGECKO_API_KEY)


def alert_webhook_secret_from_env() -> str | None:
    """The secret `cryptosignals local up` gives the template's AlertWebhookSecret (never
    printed); an option would show it in the process list."""
    return _env(ALERT_WEBHOOK_SECRET)
