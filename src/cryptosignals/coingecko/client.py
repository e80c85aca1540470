"""The CoinGecko API v3 client: plans and keys, a shared rate limit, retries inside a time budget,
a monthly call count, and answers parsed into the project's models.

    client = CoinGeckoClient.from_settings()          # COINGECKO_* environment variables
    quotes = client.simple_price(["bitcoin", "ethereum"])
    quotes.ticks["bitcoin"].price, quotes.rejected    # good coins, and a reason per bad one

Retries are urllib3's `Retry` on a requests `Session` (429, 408, 5xx, timeouts, connection
errors; exponential backoff with jitter; `Retry-After`, else CoinGecko's `x-ratelimit-reset`
date, else 60 s for a 429). The `Retry` subclass below adds what urllib3 lacks: a total time
budget per call (a retry whose wait would end past the deadline is not made, and the last
answer is reported), and a rate-limit token plus a call credit for every attempt, retries
included. No retry starts unless its wait plus a whole request timeout fit before the
deadline, and each attempt's connect and read timeouts are capped by the time left, so a call
ends near its budget (an answer that keeps trickling bytes can overrun it: the read timeout is
per socket read); the per-call state the `Retry` needs travels in a context variable.

The key lives in an `ApiKey`, whose repr and str are redacted; it is sent only as a header and
is scrubbed from every error message.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry

from cryptosignals import settings as _settings
from cryptosignals.candles import Candles
from cryptosignals.coingecko.errors import (
    AuthenticationError,
    CoinGeckoError,
    ConnectionFailedError,
    MalformedResponseError,
    PlanLimitError,
    RequestTimeoutError,
)
from cryptosignals.coingecko.limits import CallCounter, TokenBucket, shared_bucket
from cryptosignals.coingecko.parsing import (
    CLOUDFLARE_BAN_WAIT_S,
    OHLC_DAYS,
    Chart,
    Quotes,
    error_from_response,
    parse_chart,
    parse_json,
    parse_markets,
    parse_ohlc,
    parse_simple_price,
    retry_after_s,
)
from cryptosignals.errors import BadInputError
from cryptosignals.model import TickSeries

log = logging.getLogger(__name__)

DAY = 86_400
#: The longest market_chart/range window that still comes back hourly on Demo.
MAX_HOURLY_RANGE_DAYS = 90
#: Ids per `/simple/price` call: the documented cap is 515; shorter URLs are safer.
SIMPLE_PRICE_BATCH = 250
#: `/coins/markets` page size cap.
MARKETS_PER_PAGE = 250
#: History depth of the public and Demo plans (older: code 10012).
DEMO_HISTORY_DAYS = 365


class Plan(StrEnum):
    PUBLIC = "public"
    DEMO = "demo"
    PRO = "pro"


PLAN_BASE_URL = {
    Plan.PUBLIC: "https://api.coingecko.com/api/v3",
    Plan.DEMO: "https://api.coingecko.com/api/v3",
    Plan.PRO: "https://pro-api.coingecko.com/api/v3",
}
PLAN_KEY_HEADER = {Plan.DEMO: "x-cg-demo-api-key", Plan.PRO: "x-cg-pro-api-key"}


class ApiKey:
    """A CoinGecko key that does not print itself: `reveal()` is the only way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise BadInputError("the CoinGecko API key is empty")
        self._value = value.strip()

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an ApiKey is not pickled")


def _fetch_secret(secret_id: str) -> str:
    import boto3  # lazily: only a Lambda with a secret needs it

    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    if value.lstrip().startswith("{"):  # a JSON secret: {"api_key": "..."}
        import json

        data = json.loads(value)
        value = data.get("api_key") or data.get(_settings.COINGECKO_API_KEY) or ""
    return value


def _fetch_parameter(name: str) -> str:
    import boto3

    answer = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
    return answer["Parameter"]["Value"]


def resolve_api_key(
    config: _settings.CoinGeckoSettings | None = None,
    *,
    fetch_secret: Callable[[str], str] | None = None,
    fetch_parameter: Callable[[str], str] | None = None,
) -> ApiKey | None:
    """The key from `COINGECKO_API_KEY`, else from the Secrets Manager secret
    `COINGECKO_API_KEY_SECRET`, else from the SSM parameter `COINGECKO_API_KEY_PARAM`; None if
    none is configured. The fetchers are hooks (a test, or Powertools' parameters utility)."""
    config = config or _settings.coingecko()
    value = _settings.coingecko_api_key_from_env()
    if value:
        return ApiKey(value)
    source: tuple[str, Callable[[str], str]] | None = None
    if config.api_key_secret:
        source = (config.api_key_secret, fetch_secret or _fetch_secret)
    elif config.api_key_param:
        source = (config.api_key_param, fetch_parameter or _fetch_parameter)
    if source is None:
        return None
    name, fetch = source
    try:
        return ApiKey(fetch(name))
    except BadInputError:
        raise AuthenticationError(f"the key stored in {name!r} is empty") from None
    except Exception as exc:  # boto errors name the secret, never its value
        raise AuthenticationError(
            f"cannot read the CoinGecko key from {name!r}: {type(exc).__name__}"
        ) from None


# --- one call's state, seen by the Retry below -------------------------------------------------
@dataclass
class _Call:
    deadline: float
    bucket: TokenBucket | None
    counter: CallCounter
    default_429_wait: float
    timeout: float = 0.0
    attempts: int = 0
    refused_wait: float | None = None

    def attempt(self) -> None:
        """Before every HTTP request: a rate-limit token, one credit. A retry's token must come
        early enough for a whole timeout to fit before the deadline."""
        if self.bucket is not None:
            self.bucket.acquire(self.deadline - (self.timeout if self.attempts else 0.0))
        self.counter.record()
        self.attempts += 1


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("coingecko_call", default=None)


class _BudgetRetry(Retry):
    """urllib3's Retry with a time budget, CoinGecko's reset header, and the rate limiter."""

    def get_backoff_time(self) -> float:
        failures = len(self.history)
        if failures == 0:
            return 0.0
        value = self.backoff_factor * 2 ** (failures - 1) + random.uniform(0, self.backoff_jitter)
        return float(min(self.backoff_max, value))

    def get_retry_after(self, response: Any) -> float | None:
        wait = retry_after_s(dict(response.headers))
        if wait is None and response.status == 429:
            if "json" not in response.headers.get("Content-Type", "json").lower():
                # Not CoinGecko's JSON 429 but Cloudflare's text ban (`error code: 1015`):
                # back off for minutes (decided on the header; the body is not read yet).
                wait = CLOUDFLARE_BAN_WAIT_S
            else:
                call = _CALL.get()
                wait = call.default_429_wait if call else 60.0
        return None if wait is None else min(wait, self.retry_after_max)

    def increment(self, *args: Any, **kwargs: Any) -> _BudgetRetry:
        new: _BudgetRetry = super().increment(*args, **kwargs)  # type: ignore[assignment]
        response = kwargs.get("response")
        wait = new.get_retry_after(response) if response is not None else None
        if wait is None:
            wait = new.get_backoff_time()
        else:
            wait += random.uniform(0, 0.1 * wait)  # jitter, so clients do not retry in step
        new._wait = wait  # type: ignore[attr-defined]
        call = _CALL.get()
        if call is not None and time.monotonic() + wait + call.timeout > call.deadline:
            call.refused_wait = wait
            error = kwargs.get("error")
            reason = error or ResponseError(f"retry refused: {wait:.1f} s wait past the budget")
            url = kwargs.get("url", args[1] if len(args) > 1 else None)
            raise MaxRetryError(kwargs.get("_pool"), url, reason)  # type: ignore[arg-type]
        return new

    def sleep(self, response: Any = None) -> None:
        wait = getattr(self, "_wait", 0.0)
        if wait > 0:
            time.sleep(wait)
        call = _CALL.get()
        if call is not None:
            call.attempt()


@dataclass(frozen=True)
class CandleSet:
    """OHLC candles (open times; no volume, so NaN) and the rows that were rejected."""

    candles: Candles
    rejected: list[str]


class CoinGeckoClient:
    """One CoinGecko account (plan, key, base URL) and the limits it lives under."""

    def __init__(
        self,
        plan: Plan | str = Plan.DEMO,
        *,
        api_key: ApiKey | str | None = None,
        base_url: str | None = None,
        rate_limit_per_min: float | None = None,
        bucket: TokenBucket | None = None,
        counter: CallCounter | None = None,
        time_budget_s: float = 60.0,
        timeout_s: float = 20.0,
        connect_timeout_s: float = 5.0,
        retries: int = 5,
        backoff_factor: float = 0.5,
        backoff_jitter: float = 0.5,
        backoff_max: float = 30.0,
        rate_limited_wait_s: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.plan = Plan(plan)
        if isinstance(api_key, str):
            api_key = ApiKey(api_key)
        self._key = api_key if self.plan is not Plan.PUBLIC else None
        self.base_url = (base_url or PLAN_BASE_URL[self.plan]).rstrip("/")
        if bucket is None:
            rate = rate_limit_per_min or _settings.PLAN_DEFAULTS[self.plan.value][0]
            bucket = shared_bucket(urlsplit(self.base_url).netloc, rate)
        self.bucket = bucket
        self.counter = counter or CallCounter(_settings.PLAN_DEFAULTS[self.plan.value][1])
        self.time_budget_s = time_budget_s
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.rate_limited_wait_s = rate_limited_wait_s
        self._session = session or requests.Session()
        retry = _BudgetRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset({408, 429, 500, 502, 503, 504}),
            backoff_factor=backoff_factor,
            backoff_jitter=backoff_jitter,
            backoff_max=backoff_max,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=4)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = "cryptosignals"
        self._session.headers["Accept"] = "application/json"
        #: The server's clock (its `Date` header) at the last answer: the replay clock on a
        #: replay server. A backfill uses it as "now".
        self.server_time: int | None = None

    @classmethod
    def from_settings(
        cls, config: _settings.CoinGeckoSettings | None = None, **overrides: Any
    ) -> CoinGeckoClient:
        """A client configured from the COINGECKO_* environment variables (see settings.py)."""
        config = config or _settings.coingecko()
        base_url = overrides.pop("base_url", None) or config.api_url or None
        kwargs: dict[str, Any] = {
            "api_key": resolve_api_key(config) if config.plan != Plan.PUBLIC else None,
            "base_url": base_url,
            "rate_limit_per_min": config.rate_limit_per_min,
            "counter": CallCounter(config.monthly_budget, config.call_counter_file),
            "time_budget_s": config.time_budget_s,
            "timeout_s": config.timeout_s,
        }
        kwargs.update(overrides)
        return cls(config.plan, **kwargs)

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"CoinGeckoClient(plan={self.plan.value!r}, base_url={self.base_url!r}, key={key})"

    def __enter__(self) -> CoinGeckoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def calls_used(self) -> int:
        """Calls counted this month (every attempt, retries included)."""
        return self.counter.used

    @property
    def calls_remaining(self) -> int | None:
        return self.counter.remaining

    # --- transport -------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        if self._key is not None:
            text = text.replace(self._key.reveal(), "<redacted>")
        return text

    def _raise(self, error: CoinGeckoError) -> None:
        error.args = (self._scrub(str(error)),)
        raise error

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET base_url + path within the time budget; the parsed JSON or a typed error."""
        self.counter.check()
        headers = {}
        if self._key is not None:
            headers[PLAN_KEY_HEADER[self.plan]] = self._key.reveal()
        call = _Call(
            deadline=time.monotonic() + self.time_budget_s,
            bucket=self.bucket,
            counter=self.counter,
            default_429_wait=self.rate_limited_wait_s,
        )
        token = _CALL.set(call)
        started = time.monotonic()
        failure: CoinGeckoError | None = None
        try:
            call.attempt()
            left = max(0.05, call.deadline - time.monotonic())
            timeout = (min(self.connect_timeout_s, left), min(self.timeout_s, left))
            call.timeout = timeout[1]
            log.debug("GET %s %s", path, params or {})
            response = self._session.get(
                self.base_url + path, params=params, headers=headers, timeout=timeout
            )
        except requests.RequestException as exc:  # timeouts, refused or broken connections
            failure = self._transport_error(exc, path, call, time.monotonic() - started)
        finally:
            _CALL.reset(token)
        if failure is not None:  # raised here, not in the except: requests' exception (its
            self._raise(failure)  # request holds the key header) must not ride along as context
        self.server_time = _date_header(response.headers.get("Date"))
        note = self._gave_up(call)
        if response.status_code >= 400:
            error = error_from_response(
                response.status_code, response.content, dict(response.headers), path=path
            )
            if note:
                error.args = (f"{error}{note}",)
            self._raise(error)
        try:
            return parse_json(response.status_code, response.content, path=path)
        except CoinGeckoError as error:
            self._raise(error)
        raise AssertionError("unreachable")

    def _gave_up(self, call: _Call) -> str:
        if call.refused_wait is None:
            return ""
        return (
            f" (after {call.attempts} attempts; the next would wait {call.refused_wait:.1f} s,"
            f" past the time budget of {self.time_budget_s:g} s)"
        )

    def _transport_error(
        self, exc: Exception, path: str, call: _Call, elapsed: float
    ) -> CoinGeckoError:
        cause: BaseException | None = exc
        timed_out = isinstance(exc, requests.Timeout)
        while cause is not None and not timed_out:
            timed_out = isinstance(cause, ReadTimeoutError | TimeoutError)
            reason = getattr(cause, "reason", None)
            cause = reason if isinstance(reason, BaseException) else cause.__context__
        what = "no answer within the timeout" if timed_out else "connection failed"
        message = f"CoinGecko {path}: {what} after {call.attempts} attempts in {elapsed:.1f} s"
        message += self._gave_up(call)
        kind = RequestTimeoutError if timed_out else ConnectionFailedError
        return kind(message)

    # --- calls ------------------------------------------------------------------------------
    def ping(self) -> str:
        """`/ping`: CoinGecko's greeting (costs a call credit like any request)."""
        data = self._get("/ping")
        if not isinstance(data, dict) or not isinstance(data.get("gecko_says"), str):
            raise MalformedResponseError(f"/ping answer has no 'gecko_says': {data!r:.100}")
        return data["gecko_says"]

    def simple_price(self, ids: Iterable[str], vs_currency: str = "usd") -> Quotes:
        """The latest quote of each coin (batches of 250 ids a call): price, market cap, 24h
        volume, 24h change and last_updated_at as a `Tick`; unknown or bad coins are rejected."""
        wanted = _ids(ids)
        ticks: dict[str, Any] = {}
        rejected: dict[str, str] = {}
        for start in range(0, len(wanted), SIMPLE_PRICE_BATCH):
            batch = wanted[start : start + SIMPLE_PRICE_BATCH]
            data = self._get(
                "/simple/price",
                {
                    "ids": ",".join(batch),
                    "vs_currencies": vs_currency,
                    "include_market_cap": "true",
                    "include_24hr_vol": "true",
                    "include_24hr_change": "true",
                    "include_last_updated_at": "true",
                },
            )
            quotes = parse_simple_price(data, batch, vs_currency)
            ticks.update(quotes.ticks)
            rejected.update(quotes.rejected)
        return Quotes(ticks, rejected)

    def markets(
        self,
        ids: Iterable[str] | None = None,
        *,
        top: int | None = None,
        per_page: int = MARKETS_PER_PAGE,
        vs_currency: str = "usd",
    ) -> Quotes:
        """`/coins/markets` by market cap, page after page: the given ids, or the `top` N coins
        (one call per 250 coins). Ticks come in rank order."""
        if not 1 <= per_page <= MARKETS_PER_PAGE:
            raise BadInputError(f"per_page must be 1..{MARKETS_PER_PAGE}, got {per_page}")
        wanted = _ids(ids) if ids is not None else None
        if wanted is None and top is None:
            raise BadInputError("markets needs ids or top")
        limit = len(wanted) if wanted is not None else int(top or 0)
        params: dict[str, Any] = {"vs_currency": vs_currency, "order": "market_cap_desc"}
        if wanted is not None:
            params["ids"] = ",".join(wanted)
        ticks: dict[str, Any] = {}
        rejected: dict[str, str] = {}
        for page in range(1, math.ceil(limit / per_page) + 1):
            data = self._get("/coins/markets", {**params, "per_page": per_page, "page": page})
            quotes = parse_markets(data)
            ticks.update(quotes.ticks)
            rejected.update(quotes.rejected)
            if not isinstance(data, list) or len(data) < per_page:
                break
        if wanted is not None:
            for coin in wanted:
                if coin not in ticks and coin not in rejected:
                    rejected[coin] = "missing from the answer (unknown id, or no data)"
        elif top is not None:
            ticks = dict(list(ticks.items())[:top])
        return Quotes(ticks, rejected)

    def _check_history(self, days: float) -> None:
        if self.plan is not Plan.PRO and days > DEMO_HISTORY_DAYS:
            raise PlanLimitError(
                f"the {self.plan.value} plan reaches {DEMO_HISTORY_DAYS} days back; "
                f"{days:g} days asked (CoinGecko would answer code 10012)",
                code=10012,
            )

    def market_chart(self, coin: str, days: int, vs_currency: str = "usd") -> Chart:
        """`/coins/{id}/market_chart`: ~5-minute points for days=1, hourly for 2-90, daily above;
        the last point is "now". Volumes are 24h volumes as of each point."""
        if not isinstance(days, int) or days < 1:
            raise BadInputError(f"days must be a positive integer, got {days!r}")
        self._check_history(days)
        path = f"/coins/{_id(coin)}/market_chart"
        data = self._get(path, {"vs_currency": vs_currency, "days": days})
        return parse_chart(data, coin)

    def market_chart_range(
        self, coin: str, start: int, end: int, vs_currency: str = "usd"
    ) -> Chart:
        """`/coins/{id}/market_chart/range` over [start, end] (unix seconds), one call per window
        of at most 90 days so every window keeps hourly granularity; the windows are joined."""
        if not 0 < start < end:
            raise BadInputError(f"need 0 < start < end, got {start}, {end}")
        path = f"/coins/{_id(coin)}/market_chart/range"
        parts: list[Chart] = []
        for lo, hi in range_windows(start, end):
            data = self._get(path, {"vs_currency": vs_currency, "from": lo, "to": hi})
            parts.append(parse_chart(data, coin))
        return join_charts(coin, parts)

    def ohlc(self, coin: str, days: int, vs_currency: str = "usd") -> CandleSet:
        """`/coins/{id}/ohlc`: 30-minute candles for days=1, 4-hour for 7-30, 4-day above."""
        if days not in OHLC_DAYS:
            raise BadInputError(f"ohlc days must be one of {sorted(OHLC_DAYS)}, got {days!r}")
        self._check_history(days)
        data = self._get(f"/coins/{_id(coin)}/ohlc", {"vs_currency": vs_currency, "days": days})
        candles, rejected = parse_ohlc(data, days)
        return CandleSet(candles, rejected)


def _date_header(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


def _id(coin: str) -> str:
    if not isinstance(coin, str) or not coin or not all(c.isalnum() or c in "-_." for c in coin):
        raise BadInputError(f"not a CoinGecko id: {coin!r}")
    return coin


def _ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        ids = [ids]
    out = list(dict.fromkeys(_id(c.strip().lower()) for c in ids))
    if not out:
        raise BadInputError("no coin ids given")
    return out


def range_windows(
    start: int, end: int, max_days: int = MAX_HOURLY_RANGE_DAYS
) -> list[tuple[int, int]]:
    """[start, end] cut into equal windows of at most `max_days` (so each stays hourly)."""
    count = max(1, math.ceil((end - start) / (max_days * DAY)))
    edges = [start + round(i * (end - start) / count) for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def join_charts(coin: str, parts: Sequence[Chart]) -> Chart:
    """Charts of adjacent windows as one series (a shared edge point is kept once)."""
    rows: dict[int, tuple[float, float, float]] = {}
    rejected: list[str] = []
    for part in parts:
        s = part.series
        for i in range(len(s)):
            rows[int(s.timestamp[i])] = (
                float(s.price[i]),
                float(s.volume_24h[i]),
                float(s.market_cap[i]),
            )
        rejected.extend(part.rejected)
    stamps = np.array(sorted(rows), dtype=np.int64)
    table = np.array([rows[int(t)] for t in stamps], dtype=float).reshape(-1, 3)
    series = TickSeries(
        coin, stamps, table[:, 0], table[:, 1], table[:, 2], np.full(len(stamps), np.nan)
    )
    return Chart(series, rejected)
