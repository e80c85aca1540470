"""CoinGecko answers -> the project's models, and error answers -> typed errors. Pure functions.

Good answers become `Tick`s (quotes), `TickSeries` (charts) or `Candles` (OHLC). A partly bad
answer still gives its good coins; each bad or missing coin is a rejection with a reason. An
answer that is unusable as a whole (not JSON, truncated, wrong shape) is a
`MalformedResponseError`; an error answer (every shape of ../shared/coingecko section 3.2) is the
typed error of `errors.py`, decided on the HTTP status and CoinGecko's code, never on the text.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np

from cryptosignals.candles import Candles
from cryptosignals.coingecko.errors import (
    AccessDeniedError,
    AuthenticationError,
    CloudflareBlockedError,
    CoinGeckoError,
    CoinNotFoundError,
    InvalidRequestError,
    MalformedResponseError,
    PlanLimitError,
    RateLimitedError,
    ServerError,
)
from cryptosignals.errors import BadInputError
from cryptosignals.model import Tick, TickSeries

#: How much of a non-JSON body an error message quotes.
_QUOTE_CHARS = 200
#: Wait after a Cloudflare 1015 ban when nothing better is known (trezor/blockbook waits minutes).
CLOUDFLARE_BAN_WAIT_S = 300.0
_AUTH_CODES = {10002, 10010, 10011}
_PLAN_CODES = {10005, 10012}
#: OHLC `days` allowed on Demo, and the candle length each gives (seconds).
OHLC_DAYS = {1: 1800, 7: 14_400, 14: 14_400, 30: 14_400, 90: 345_600, 180: 345_600, 365: 345_600}


@dataclass(frozen=True)
class Quotes:
    """The latest tick of each good coin, and a reason for each coin that was rejected."""

    ticks: dict[str, Tick] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    """A market_chart answer as ticks (change_24h unknown), plus the points that were dropped."""

    series: TickSeries
    rejected: list[str] = field(default_factory=list)


# --- error answers -----------------------------------------------------------------------------
def error_fields(data: Any) -> tuple[int | None, str | None] | None:
    """CoinGecko's (code, message) from any of its JSON error shapes, or None if not an error.

    Code: `status.error_code`, else top-level `error_code`, else `error.status.error_code`.
    Message: `status.error_message`, else `error.status.error_message`, else `error` (a string).
    """
    if not isinstance(data, Mapping):
        return None
    status: Mapping[str, Any] = data["status"] if isinstance(data.get("status"), Mapping) else {}
    error = data.get("error")
    inner = error.get("status") if isinstance(error, Mapping) else None
    nested: Mapping[str, Any] = inner if isinstance(inner, Mapping) else {}
    if not (status or nested or isinstance(error, str) or "error_code" in data):
        return None
    code = _int_or_none(status.get("error_code"))
    if code is None:
        code = _int_or_none(data.get("error_code"))
    if code is None:
        code = _int_or_none(nested.get("error_code"))
    message = status.get("error_message") or nested.get("error_message")
    if not message and isinstance(error, str):
        message = error
    return code, (str(message).strip() if message else None)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date), else from `x-ratelimit-reset`
    (CoinGecko sends a date string like `2025-07-25 14:54:00 +0000`, or seconds); else None."""
    now = time.time() if now is None else now
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value is not None:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return max(0.0, float(value))
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError, IndexError):
            pass
    reset = lower.get("x-ratelimit-reset")
    if reset is not None:
        reset = reset.strip()
        if reset.replace(".", "", 1).isdigit():
            number = float(reset)
            # A large number is an epoch time; a small one is seconds to wait.
            return max(0.0, number - now) if number > 1e9 else number
        for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return max(0.0, datetime.strptime(reset, fmt).timestamp() - now)
            except ValueError:
                continue
    return None


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "..."


def _decode(body: bytes | str) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body


def error_from_response(
    status: int,
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    path: str = "",
) -> CoinGeckoError:
    """The typed error for a non-2xx answer (or a 2xx whose body is an error object)."""
    headers = headers or {}
    text = _decode(body)
    code: int | None = None
    message: str | None = None
    try:
        fields = error_fields(json.loads(text))
    except ValueError:
        fields = None
    if fields is not None:
        code, message = fields
    is_json = fields is not None
    if not is_json:
        title = _html_title(text)
        message = f"{title} (HTML page)" if title else (_quote(text) or "empty body")
    where = f" for {path}" if path else ""
    described = f"CoinGecko HTTP {status}"
    if code is not None and code != status:
        described += f" code {code}"
    full = f"{described}{where}: {message}"
    kwargs: dict[str, Any] = {"status": status, "code": code}
    if code in _PLAN_CODES:
        return PlanLimitError(full, **kwargs)
    if code in _AUTH_CODES:
        return AuthenticationError(full, **kwargs)
    if status == 429:
        if "error code: 1015" in text:
            wait = retry_after_s(headers) or CLOUDFLARE_BAN_WAIT_S
            return CloudflareBlockedError(full, retry_after=wait, **kwargs)
        return RateLimitedError(full, retry_after=retry_after_s(headers), **kwargs)
    if status == 408 or status >= 500:
        return ServerError(full, **kwargs)
    if status == 401:
        return AuthenticationError(full, **kwargs)
    if status == 403:
        return AccessDeniedError(full, **kwargs)
    if status == 404:
        return CoinNotFoundError(full, **kwargs)
    if 400 <= status < 500:
        return InvalidRequestError(full, **kwargs)
    return MalformedResponseError(f"unexpected answer{where}: {full}", **kwargs)


def _html_title(text: str) -> str | None:
    lower = text.lower()
    start = lower.find("<title>")
    end = lower.find("</title>", start)
    if start < 0 or end < 0:
        return None
    return _quote(text[start + 7 : end])


def parse_json(status: int, body: bytes | str, *, path: str = "") -> Any:
    """The JSON of a 2xx answer; `MalformedResponseError` if it is not JSON (truncated, HTML),
    the typed error if it is an error object (CoinGecko sends 10012 with any status)."""
    text = _decode(body)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        start = text.lstrip()[:1]
        what = "a truncated JSON body" if start and start in "{[" else "a body that is not JSON"
        raise MalformedResponseError(
            f"CoinGecko HTTP {status} for {path} gave {what} ({exc.msg} at char {exc.pos}): "
            f"{_quote(text) or 'empty body'}",
            status=status,
        ) from None
    fields = error_fields(data)
    if fields is not None and (fields[0] is not None or "error" in data):
        raise error_from_response(status if status >= 400 else 400, text, path=path)
    return data


# --- values ------------------------------------------------------------------------------------
def _finite(name: str, value: Any, *, required: bool = False, positive: bool = False) -> float:
    """A finite float, NaN for an allowed null; BadInputError naming the field otherwise."""
    if value is None:
        if required:
            raise BadInputError(f"{name} is null")
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInputError(f"{name} is not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise BadInputError(f"{name} is not finite: {value!r}")
    if positive and number <= 0:
        raise BadInputError(f"{name} must be positive: {value!r}")
    if number < 0:
        raise BadInputError(f"{name} is negative: {value!r}")
    return number


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _change(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInputError(f"{name} is not a finite number: {value!r}")
    return float(value)


def _epoch_seconds(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInputError(f"{name} is not unix seconds: {value!r}")
    if not 0 < value < 10**10:
        raise BadInputError(f"{name} is not unix seconds: {value!r}")
    return int(value)


def iso_to_epoch(value: Any) -> int:
    """`2025-06-02T11:59:22.074Z` -> 1748865562 (seconds, floored)."""
    if not isinstance(value, str):
        raise BadInputError(f"last_updated is not an ISO time: {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"last_updated is not an ISO time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def _missing(ids: Iterable[str], ticks: Mapping[str, Tick], rejected: dict[str, str]) -> None:
    for coin in ids:
        if coin not in ticks and coin not in rejected:
            rejected[coin] = "missing from the answer (unknown id, or no data)"


# --- /simple/price -----------------------------------------------------------------------------
def parse_simple_price(data: Any, ids: Iterable[str], vs_currency: str = "usd") -> Quotes:
    """`{"bitcoin": {"usd": ..., "usd_24h_vol": ..., "last_updated_at": ...}}` -> Quotes."""
    ids = list(ids)
    if not isinstance(data, Mapping):
        raise MalformedResponseError(
            f"/simple/price answer must be a JSON object, got {type(data).__name__}"
        )
    ticks: dict[str, Tick] = {}
    rejected: dict[str, str] = {}
    wanted = set(ids)
    for coin, entry in data.items():
        if coin not in wanted:
            continue
        try:
            if not isinstance(entry, Mapping):
                raise BadInputError(f"entry is not an object: {entry!r}")
            ticks[coin] = Tick(
                crypto_id=coin,
                timestamp=_epoch_seconds("last_updated_at", entry.get("last_updated_at")),
                price=_finite(vs_currency, entry.get(vs_currency), required=True, positive=True),
                volume_24h=_none(
                    _finite(f"{vs_currency}_24h_vol", entry.get(f"{vs_currency}_24h_vol"))
                ),
                market_cap=_none(
                    _finite(f"{vs_currency}_market_cap", entry.get(f"{vs_currency}_market_cap"))
                ),
                change_24h=_change(
                    f"{vs_currency}_24h_change", entry.get(f"{vs_currency}_24h_change")
                ),
            )
        except BadInputError as exc:
            rejected[coin] = str(exc)
    _missing(ids, ticks, rejected)
    return Quotes(ticks, rejected)


# --- /coins/markets ----------------------------------------------------------------------------
def parse_markets(data: Any, ids: Iterable[str] | None = None) -> Quotes:
    """A `/coins/markets` page (a JSON array) -> Quotes; `ids` (if given) must all be present."""
    if not isinstance(data, list):
        raise MalformedResponseError(
            f"/coins/markets answer must be a JSON array, got {type(data).__name__}"
        )
    ticks: dict[str, Tick] = {}
    rejected: dict[str, str] = {}
    for index, entry in enumerate(data):
        coin = entry.get("id") if isinstance(entry, Mapping) else None
        if not isinstance(coin, str) or not coin:
            rejected[f"#{index}"] = f"entry without an id: {_quote(repr(entry))}"
            continue
        try:
            ticks[coin] = Tick(
                crypto_id=coin,
                timestamp=iso_to_epoch(entry.get("last_updated")),
                price=_finite(
                    "current_price", entry.get("current_price"), required=True, positive=True
                ),
                volume_24h=_none(_finite("total_volume", entry.get("total_volume"))),
                market_cap=_none(_finite("market_cap", entry.get("market_cap"))),
                change_24h=_change(
                    "price_change_percentage_24h", entry.get("price_change_percentage_24h")
                ),
            )
        except BadInputError as exc:
            rejected[coin] = str(exc)
    if ids is not None:
        _missing(ids, ticks, rejected)
    return Quotes(ticks, rejected)


# --- /coins/{id}/market_chart(/range) ----------------------------------------------------------
def _pairs(data: Mapping[str, Any], key: str, required: bool) -> dict[int, Any]:
    points = data.get(key)
    if points is None and not required:
        return {}
    if not isinstance(points, list):
        raise MalformedResponseError(f"market_chart answer: {key!r} must be a list of pairs")
    out: dict[int, Any] = {}
    for point in points:
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or isinstance(point[0], bool)
            or not isinstance(point[0], int | float)
            or not math.isfinite(point[0])
        ):
            raise MalformedResponseError(f"market_chart answer: bad point in {key!r}: {point!r}")
        out[int(point[0]) // 1000] = point[1]
    return out


def parse_chart(data: Any, coin: str) -> Chart:
    """`{"prices": [[ms, v]...], "market_caps": [...], "total_volumes": [...]}` -> Chart.

    Timestamps become unix seconds; a point with a bad price is dropped with a reason, a bad cap
    or volume becomes unknown (NaN) for that point."""
    if not isinstance(data, Mapping):
        raise MalformedResponseError(
            f"market_chart answer must be a JSON object, got {type(data).__name__}"
        )
    prices = _pairs(data, "prices", True)
    caps = _pairs(data, "market_caps", False)
    volumes = _pairs(data, "total_volumes", False)
    rejected: list[str] = []
    rows: list[tuple[int, float, float, float]] = []
    for second in sorted(prices):
        try:
            price = _finite("price", prices[second], required=True, positive=True)
        except BadInputError as exc:
            rejected.append(f"{coin} at {second}: {exc}")
            continue
        rows.append((second, price, _lenient(volumes.get(second)), _lenient(caps.get(second))))
    if not rows:
        empty = np.array([], dtype=float)
        series = TickSeries(coin, np.array([], dtype=np.int64), empty, empty, empty, empty)
        return Chart(series, rejected)
    table = np.array(rows, dtype=float)
    series = TickSeries(
        crypto_id=coin,
        timestamp=table[:, 0].astype(np.int64),
        price=table[:, 1],
        volume_24h=table[:, 2],
        market_cap=table[:, 3],
        change_24h=np.full(len(rows), np.nan),
    )
    return Chart(series, rejected)


def _lenient(value: Any) -> float:
    try:
        return _finite("value", value)
    except BadInputError:
        return math.nan


# --- /coins/{id}/ohlc --------------------------------------------------------------------------
def parse_ohlc(data: Any, days: int) -> tuple[Candles, list[str]]:
    """`[[close_ms, o, h, l, c], ...]` -> Candles (open times, volume NaN: OHLC has none)."""
    if days not in OHLC_DAYS:
        raise BadInputError(f"ohlc days must be one of {sorted(OHLC_DAYS)}, got {days}")
    if not isinstance(data, list):
        raise MalformedResponseError(
            f"/ohlc answer must be a JSON array, got {type(data).__name__}"
        )
    size_ms = OHLC_DAYS[days] * 1000
    rows: dict[int, list[float]] = {}
    rejected: list[str] = []
    for row in data:
        try:
            if not isinstance(row, list) or len(row) != 5:
                raise BadInputError(f"expected [time, open, high, low, close], got {row!r}")
            close_ms = _finite("time", row[0], required=True, positive=True)
            o, h, low, c = (
                _finite(n, v, required=True, positive=True)
                for n, v in zip(("open", "high", "low", "close"), row[1:], strict=True)
            )
            if not low <= min(o, c) <= max(o, c) <= h:
                raise BadInputError(f"prices violate low <= open, close <= high: {row!r}")
        except BadInputError as exc:
            rejected.append(str(exc))
            continue
        rows[int(close_ms) - size_ms] = [o, h, low, c]
    stamps = np.array(sorted(rows), dtype=np.int64)
    table = np.array([rows[int(t)] for t in stamps], dtype=float).reshape(-1, 4)
    candles = Candles(
        stamps, table[:, 0], table[:, 1], table[:, 2], table[:, 3], np.full(len(stamps), np.nan)
    )
    return candles, rejected
