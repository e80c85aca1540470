"""A CoinGecko-compatible HTTP server on 127.0.0.1 that replays candle files.

It serves `/api/v3/...` with CoinGecko's paths, parameters, JSON shapes and errors, from candle
files (the bundled sample by default). The quotes are exactly the ticks of
`candles.candles_to_ticks`: price = the close of the last candle closed at the replay clock,
24h volume = the trailing 24-hour sum of candle volumes, market cap = price x the documented
circulating supply, 24h change against the close 24 hours earlier, last_updated_at = that
candle's close time. So the pipeline over a replayed file sees the ticks `analyze` sees.

The replay clock maps "now" to a point in the data: it starts one day into the data (so the
24h figures are known), runs at a speed factor (300 = five minutes of market a second; 0 =
frozen) and can be moved by the caller: `server.clock.advance(300)` in Python, or
`POST /_replay/advance?seconds=300` over HTTP. Nothing after "now" is ever served.

    with ReplayServer(rate_limit=30) as server:        # port 0: a free port
        client = CoinGeckoClient(base_url=server.url)
        server.clock.advance(3600)

Also: CoinGecko's rate limiting (fixed windows per key or address, 429 with its JSON body and
`x-ratelimit-*` headers, optional Retry-After), a monthly limit, key checking like CoinGecko
(`require_key`), and seeded fault injection (429, Cloudflare 1015, 5xx pages, slow answers,
truncated or HTML bodies) or an explicit queue of faults for a test.

Control endpoints (no key, never rate limited or faulted), under `/_replay/`:
`GET clock`, `POST advance?seconds=S`, `POST set?t=UNIX`, `POST speed?x=X`,
`POST faults?next=503,429`, `GET stats` (requests seen), `POST reset`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from cryptosignals.candles import (
    CIRCULATING_SUPPLY,
    DAY_SECONDS,
    SAMPLE_COINS,
    Candles,
    candles_to_ticks,
    read_candles,
    sample_path,
)
from cryptosignals.coingecko.parsing import OHLC_DAYS
from cryptosignals.errors import BadInputError
from cryptosignals.model import TickSeries

log = logging.getLogger(__name__)

API_PREFIX = "/api/v3"
CONTROL_PREFIX = "/_replay"
DEMO_HISTORY_DAYS = 365

_NAMES = {
    "bitcoin": ("btc", "Bitcoin"),
    "ethereum": ("eth", "Ethereum"),
    "solana": ("sol", "Solana"),
    "cardano": ("ada", "Cardano"),
    "ripple": ("xrp", "XRP"),
    "dogecoin": ("doge", "Dogecoin"),
    "avalanche-2": ("avax", "Avalanche"),
    "chainlink": ("link", "Chainlink"),
    "polkadot": ("dot", "Polkadot"),
    "litecoin": ("ltc", "Litecoin"),
    "binancecoin": ("bnb", "BNB"),
}

# CoinGecko's bodies (../shared/coingecko/examples).
BODY_429 = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher "
        "rate limits.",
    }
}
BODY_MONTHLY = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the monthly call credit limit of your plan.",
    }
}
BODY_KEY_MISSING = {
    "status": {
        "error_code": 10002,
        "error_message": "API Key Missing. Please make sure you're using the right "
        "authentication method. For Pro API, please visit: "
        "https://docs.coingecko.com/reference/authentication. For Public/Demo API, please "
        "visit: https://docs.coingecko.com/v3.0.1/reference/authentication",
    }
}
BODY_KEY_INVALID = {
    "status": {
        "error_code": 10002,
        "error_message": "Invalid API Key. Please make sure you're using the right API key.",
    }
}
BODY_PRO_KEY_ON_DEMO = {
    "status": {
        "error_code": 10010,
        "error_message": "If you are using Pro API key, please change your root URL from "
        "api.coingecko.com to pro-api.coingecko.com",
    }
}
BODY_PLAN_PARAM = {
    "status": {
        "error_code": 10005,
        "error_message": "You request is not available on your current plan.",
    }
}
CLOUDFLARE_1015 = "error code: 1015"
_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>api.coingecko.com | {status}: {reason}</title></head>"
    "<body><h1>{reason}</h1><p>Cloudflare Ray ID: 8f00000000000000</p></body></html>"
)


def _body_10012() -> dict[str, Any]:
    return {
        "error": {
            "status": {
                "timestamp": _iso(time.time()),
                "error_code": 10012,
                "error_message": "Your request exceeds the allowed time range. Public API users"
                " are limited to querying historical data within the past 365 days. Upgrade to"
                " a paid plan to enjoy full historical data access: "
                "https://www.coingecko.com/en/api/pricing. ",
            }
        }
    }


def _body_demo_key_on_pro() -> dict[str, Any]:
    return {
        "timestamp": _iso(time.time()),
        "error_code": 10011,
        "status": {
            "error_message": "If you are using Demo API key, please change your root URL from "
            "pro-api.coingecko.com to api.coingecko.com Please refer here for more details: "
            "https://docs.coingecko.com/v3.0.1/reference/introduction"
        },
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- the clock ---------------------------------------------------------------------------------
class ReplayClock:
    """Replay time (unix seconds of the data) = start + wall seconds x speed + explicit moves,
    held inside [first, last] of the data."""

    def __init__(
        self,
        start: float,
        *,
        speed: float = 0.0,
        first: float = -math.inf,
        last: float = math.inf,
        wall: Any = time.monotonic,
    ) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self.first, self.last = first, last
        self._anchor = float(start)
        self._anchor_wall = wall()
        self._speed = float(speed)

    def _now(self) -> float:
        value = self._anchor + (self._wall() - self._anchor_wall) * self._speed
        return min(max(value, self.first), self.last)

    def now(self) -> int:
        """The replay time, whole unix seconds."""
        with self._lock:
            return math.floor(self._now())

    @property
    def speed(self) -> float:
        return self._speed

    def _rebase(self, value: float) -> None:
        self._anchor = min(max(value, self.first), self.last)
        self._anchor_wall = self._wall()

    def set(self, moment: float) -> int:
        with self._lock:
            self._rebase(moment)
        return self.now()

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._rebase(self._now() + seconds)
        return self.now()

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._rebase(self._now())
            self._speed = float(speed)


# --- faults ------------------------------------------------------------------------------------
FAULT_KINDS = ("429", "1015", "5xx", "slow", "truncated", "html", "drop")
_FIXED_FAULTS = {"500", "502", "503", "504", "408"}


@dataclass(frozen=True)
class FaultPlan:
    """Shares of requests answered with a fault, drawn from a seeded generator (repeatable for
    a given order of requests). `slow_s`: how late a slow answer comes."""

    rates: Mapping[str, float] = field(default_factory=dict)
    slow_s: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown:
            raise BadInputError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if any(not 0 <= r <= 1 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise BadInputError("fault shares must be in [0, 1] and add up to at most 1")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """`429=0.1,5xx=0.05,slow=0.02,truncated=0.02,seed=7,slow_s=3`."""
        rates: dict[str, float] = {}
        options: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            try:
                number = float(value)
            except ValueError:
                raise BadInputError(f"fault {part!r}: expected name=number") from None
            if not sep:
                raise BadInputError(f"fault {part!r}: expected name=number")
            if name == "seed":
                options["seed"] = int(number)
            elif name == "slow_s":
                options["slow_s"] = number
            else:
                rates[name] = number
        return cls(rates, **options)


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the server saw it (monotonic wall time)."""

    at: float
    path: str
    status: int
    fault: str | None = None


# --- data --------------------------------------------------------------------------------------
_FILE = re.compile(r"^(?P<coin>[a-z0-9-]+)_(?P<interval>\d+[mh])\.csv(\.gz)?$")


def load_candles(
    directory: str | Path | None = None, coins: Iterable[str] | None = None, interval: str = "5m"
) -> dict[str, Candles]:
    """Candle files `<coin>_<interval>.csv[.gz]` of a directory (the bundled sample if None)."""
    wanted = set(coins) if coins else None
    if directory is None:
        return {c: read_candles(sample_path(c)) for c in SAMPLE_COINS if not wanted or c in wanted}
    found: dict[str, Candles] = {}
    for path in sorted(Path(directory).iterdir()):
        match = _FILE.match(path.name)
        if not match or match["interval"] != interval:
            continue
        if wanted and match["coin"] not in wanted:
            continue
        found[match["coin"]] = read_candles(path)
    if wanted and wanted - set(found):
        raise BadInputError(f"{directory}: no {interval} candles for {sorted(wanted - set(found))}")
    if not found:
        raise BadInputError(f"{directory}: no candle files named <coin>_{interval}.csv[.gz]")
    return found


@dataclass
class _Coin:
    candles: Candles
    ticks: TickSeries
    close_time: np.ndarray  # seconds


class _HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# --- the server --------------------------------------------------------------------------------
class ReplayServer:
    """The replay server; `start()` (or `with`) serves in a thread, `stop()` ends it."""

    def __init__(
        self,
        data: Mapping[str, Candles] | str | Path | None = None,
        *,
        coins: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 0.0,
        start: float | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 60.0,
        monthly_limit: int | None = None,
        require_key: str | None = None,
        key_mode: str = "demo",
        retry_after: bool = False,
        faults: FaultPlan | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise BadInputError("the replay server listens on 127.0.0.1 only")
        if key_mode not in ("demo", "pro"):
            raise BadInputError(f"key_mode must be demo or pro, got {key_mode!r}")
        candles = data if isinstance(data, Mapping) else load_candles(data, coins)
        self.coins: dict[str, _Coin] = {}
        for coin, c in candles.items():
            ticks = candles_to_ticks(coin, c)
            self.coins[coin] = _Coin(c, ticks, ticks.timestamp)
        first = min(int(c.close_time[0]) for c in self.coins.values())
        last = max(int(c.close_time[-1]) for c in self.coins.values())
        if start is None:
            start = min(first + DAY_SECONDS, last)
        self.clock = ReplayClock(start, speed=speed, first=first, last=last)
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.monthly_limit = monthly_limit
        self.require_key = require_key
        self.key_mode = key_mode
        self.retry_after = retry_after
        self.faults = faults or FaultPlan()
        self._rng = random.Random(self.faults.seed)
        self._queue: list[str] = []
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int], int] = {}
        self._monthly: dict[str, int] = {}
        self.requests: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.replay = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give a client (like https://api.coingecko.com/api/v3)."""
        return self.root_url + API_PREFIX

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the command line)."""
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._stopping.set()
            self._httpd.server_close()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test helpers --------------------------------------------------------------------------
    def ticks(self, coin: str) -> TickSeries:
        """The source ticks of a coin (what `candles_to_ticks` gives)."""
        return self.coins[coin].ticks

    def inject(self, *faults: str) -> None:
        """Answer the next API requests with these faults, in order (`"503"`, `"429"`, `"slow"`,
        `"truncated"`, `"html"`, `"drop"`, `"1015"`, `"5xx"`), before any random fault.
        `truncated` is a well-framed 200 whose JSON is cut; `drop` announces the whole body,
        sends half and closes the connection."""
        for fault in faults:
            if fault not in FAULT_KINDS and fault not in _FIXED_FAULTS:
                raise BadInputError(f"unknown fault {fault!r}")
        with self._lock:
            self._queue.extend(faults)

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self._windows.clear()
            self._monthly.clear()

    def max_in_window(self, window_s: float, *, statuses: Iterable[int] | None = None) -> int:
        """The most requests seen in any sliding window of `window_s` seconds."""
        wanted = set(statuses) if statuses is not None else None
        times = sorted(r.at for r in self.requests if wanted is None or r.status in wanted)
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window_s:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    # --- request handling ----------------------------------------------------------------------
    def _who(self, key: str | None, address: str) -> str:
        return f"key:{key}" if key else f"ip:{address}"

    def _check_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
        demo = headers.get("x-cg-demo-api-key") or query.get("x_cg_demo_api_key")
        pro = headers.get("x-cg-pro-api-key") or query.get("x_cg_pro_api_key")
        sent = demo or pro
        if self.require_key is None:
            return sent
        if self.key_mode == "demo":
            if pro and not demo:
                raise _HttpError(400, BODY_PRO_KEY_ON_DEMO)
            if not demo:
                raise _HttpError(401, BODY_KEY_MISSING)
            if demo != self.require_key:
                raise _HttpError(401, BODY_KEY_INVALID)
            return demo
        if demo and not pro:
            raise _HttpError(400, _body_demo_key_on_pro())
        if not pro:
            raise _HttpError(401, BODY_KEY_MISSING)
        if pro != self.require_key:
            raise _HttpError(401, BODY_KEY_INVALID)
        return pro

    def _admit(self, who: str) -> tuple[int, dict[str, str]] | None:
        """Count the request; a (status, headers) 429 if over a limit."""
        now = time.time()
        with self._lock:
            if self.monthly_limit is not None:
                used = self._monthly.get(who, 0)
                if used >= self.monthly_limit:
                    return 429, {"x-monthly-limit": "exceeded"}
                self._monthly[who] = used + 1
            if self.rate_limit is None:
                return None
            index = math.floor(now / self.rate_window_s)
            count = self._windows.get((who, index), 0)
            reset = (index + 1) * self.rate_window_s
            if count >= self.rate_limit:
                if self.monthly_limit is not None:
                    self._monthly[who] -= 1
                headers = {
                    "x-ratelimit-limit": str(self.rate_limit),
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": datetime.fromtimestamp(math.ceil(reset), UTC).strftime(
                        "%Y-%m-%d %H:%M:%S +0000"
                    ),
                }
                if self.retry_after:
                    headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
                return 429, headers
            self._windows[(who, index)] = count + 1
        return None

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            if not self.faults.rates:
                return None
            draw = self._rng.random()
            pick = self._rng.random()
        total = 0.0
        for kind in FAULT_KINDS:
            total += self.faults.rates.get(kind, 0.0)
            if draw < total:
                if kind == "5xx":
                    return ("500", "502", "503", "504")[int(pick * 4)]
                return kind
        return None

    def sleep(self, seconds: float) -> None:
        """A slow answer's wait, cut short when the server stops."""
        self._stopping.wait(seconds)

    # --- the API -------------------------------------------------------------------------------
    def _tick_index(self, coin: _Coin, now: int) -> int:
        return int(np.searchsorted(coin.close_time, now, side="right")) - 1

    def _coin(self, coin_id: str) -> _Coin:
        coin = self.coins.get(coin_id)
        if coin is None:
            raise _HttpError(404, {"error": "coin not found"})
        return coin

    def route(self, path: str, query: Mapping[str, str]) -> Any:
        """The JSON answer of an API path (without the /api/v3 prefix)."""
        now = self.clock.now()
        if path == "/ping":
            return {"gecko_says": "(V3) To the Moon!"}
        if path == "/simple/supported_vs_currencies":
            return ["usd"]
        if path == "/coins/list":
            return [
                {"id": c, "symbol": _NAMES.get(c, (c, c))[0], "name": _NAMES.get(c, (c, c))[1]}
                for c in sorted(self.coins)
            ]
        if path == "/simple/price":
            return self._simple_price(query, now)
        if path == "/coins/markets":
            return self._markets(query, now)
        match = re.fullmatch(r"/coins/([^/]+)/(market_chart|market_chart/range|ohlc)", path)
        if match:
            coin = self._coin(match[1])
            _vs(query, "vs_currency")
            if match[2] == "ohlc":
                return self._ohlc(coin, query, now)
            return self._chart(coin, match[2], query, now)
        raise _HttpError(
            404, {"error": "Incorrect path. Please check https://www.coingecko.com/api/"}
        )

    def _simple_price(self, query: Mapping[str, str], now: int) -> dict[str, Any]:
        currencies = _vs(query, "vs_currencies")
        ids = [i.strip() for i in query.get("ids", "").split(",") if i.strip()]
        if not ids:
            raise _HttpError(400, {"error": "Missing parameter ids"})
        flags = {k: query.get(k, "false").lower() == "true" for k in _SIMPLE_FLAGS}
        answer: dict[str, Any] = {}
        for coin_id in ids:
            coin = self.coins.get(coin_id)
            if coin is None or (i := self._tick_index(coin, now)) < 0:
                continue  # CoinGecko drops unknown ids silently
            t = coin.ticks
            entry: dict[str, Any] = {}
            for vs in currencies:
                entry[vs] = float(t.price[i])
                if flags["include_market_cap"]:
                    entry[f"{vs}_market_cap"] = _num(t.market_cap[i])
                if flags["include_24hr_vol"]:
                    entry[f"{vs}_24h_vol"] = _num(t.volume_24h[i])
                if flags["include_24hr_change"]:
                    entry[f"{vs}_24h_change"] = _num(t.change_24h[i])
            if flags["include_last_updated_at"]:
                entry["last_updated_at"] = int(t.timestamp[i])
            answer[coin_id] = entry
        return answer

    def _markets(self, query: Mapping[str, str], now: int) -> list[dict[str, Any]]:
        _vs(query, "vs_currency")
        per_page = _int_param(query, "per_page", 100)
        page = _int_param(query, "page", 1)
        if not 1 <= per_page <= 250:
            raise _HttpError(400, {"error": "per_page must be between 1 and 250"})
        if page < 1:
            raise _HttpError(400, {"error": "page must be 1 or more"})
        ids = [i.strip() for i in query.get("ids", "").split(",") if i.strip()]
        rows = []
        for coin_id, coin in self.coins.items():
            i = self._tick_index(coin, now)
            if i >= 0:
                rows.append(self._market_row(coin_id, coin, i))
        order = query.get("order", "market_cap_desc")
        keys = {
            "market_cap_desc": (lambda r: -(r["market_cap"] or 0.0)),
            "market_cap_asc": (lambda r: r["market_cap"] or 0.0),
            "volume_desc": (lambda r: -(r["total_volume"] or 0.0)),
            "volume_asc": (lambda r: r["total_volume"] or 0.0),
            "id_asc": (lambda r: r["id"]),
        }
        if order not in keys and order != "id_desc":
            raise _HttpError(400, {"error": "invalid order"})
        by_cap = sorted(rows, key=keys["market_cap_desc"])
        for rank, row in enumerate(by_cap, start=1):
            row["market_cap_rank"] = rank
        rows = (
            sorted(rows, key=keys["id_asc"], reverse=True)
            if order == "id_desc"
            else sorted(rows, key=keys[order])
        )
        if ids:
            rows = [r for r in rows if r["id"] in set(ids)]
        return rows[(page - 1) * per_page : page * per_page]

    def _market_row(self, coin_id: str, coin: _Coin, i: int) -> dict[str, Any]:
        t, c = coin.ticks, coin.candles
        now = int(t.timestamp[i])
        day = (coin.close_time > now - DAY_SECONDS) & (coin.close_time <= now)
        price = float(t.price[i])
        change = _num(t.change_24h[i])
        cap = _num(t.market_cap[i])
        supply = CIRCULATING_SUPPLY.get(coin_id)
        symbol, name = _NAMES.get(coin_id, (coin_id, coin_id))
        return {
            "id": coin_id,
            "symbol": symbol,
            "name": name,
            "image": None,
            "current_price": price,
            "market_cap": cap,
            "market_cap_rank": None,
            "fully_diluted_valuation": None,
            "total_volume": _num(t.volume_24h[i]),
            "high_24h": float(c.high[day].max()),
            "low_24h": float(c.low[day].min()),
            "price_change_24h": None if change is None else price - price / (1 + change / 100),
            "price_change_percentage_24h": change,
            "market_cap_change_24h": None
            if cap is None or change is None
            else cap - cap / (1 + change / 100),
            "market_cap_change_percentage_24h": change,
            "circulating_supply": supply,
            "total_supply": supply,
            "max_supply": None,
            "ath": None,
            "ath_change_percentage": None,
            "ath_date": None,
            "atl": None,
            "atl_change_percentage": None,
            "atl_date": None,
            "roi": None,
            "last_updated": _iso(now),
        }

    def _chart(self, coin: _Coin, kind: str, query: Mapping[str, str], now: int) -> Any:
        interval = query.get("interval", "")
        if interval and interval != "daily":
            raise _HttpError(401, BODY_PLAN_PARAM)  # hourly / 5m: Enterprise only
        if kind == "market_chart":
            days_text = query.get("days", "")
            if days_text == "max" or (days_text.isdigit() and int(days_text) > DEMO_HISTORY_DAYS):
                raise _HttpError(401, _body_10012())
            if not days_text.isdigit() or int(days_text) < 1:
                raise _HttpError(400, {"error": "invalid days"})
            days = int(days_text)
            lo, hi = now - days * DAY_SECONDS, now
            step = 300 if days == 1 else 3600 if days <= 90 else DAY_SECONDS
        else:
            lo, to = _int_param(query, "from", None), _int_param(query, "to", None)
            if lo is None or to is None or to <= lo:
                raise _HttpError(400, {"error": "from and to (unix seconds, from < to) required"})
            if lo < now - DEMO_HISTORY_DAYS * DAY_SECONDS:
                raise _HttpError(401, _body_10012())
            span, hi = to - lo, min(to, now)
            recent = to >= now - 3600
            step = 300 if span <= DAY_SECONDS and recent else 3600
            if span > 90 * DAY_SECONDS:
                step = DAY_SECONDS
        if interval == "daily":
            step = DAY_SECONDS
        return self._points(coin, lo, hi, step, final=hi >= now)

    def _points(self, coin: _Coin, lo: int, hi: int, step: int, *, final: bool) -> Any:
        t = coin.ticks
        ts = coin.close_time
        select = (ts >= lo) & (ts <= hi) & (ts % step == 0)  # 1-minute files give 5-minute points
        idx = [int(i) for i in np.flatnonzero(select)]
        last = self._tick_index(coin, hi)
        if final and last >= 0 and ts[last] >= lo and (not idx or idx[-1] != last):
            idx.append(last)  # the "now" point after the regular ones
        ms = [int(ts[i]) * 1000 for i in idx]
        return {
            "prices": [[m, float(t.price[i])] for m, i in zip(ms, idx, strict=True)],
            "market_caps": [[m, _num(t.market_cap[i])] for m, i in zip(ms, idx, strict=True)],
            "total_volumes": [[m, _num(t.volume_24h[i])] for m, i in zip(ms, idx, strict=True)],
        }

    def _ohlc(self, coin: _Coin, query: Mapping[str, str], now: int) -> Any:
        days_text = query.get("days", "")
        if days_text == "max" or not days_text.isdigit() or int(days_text) not in OHLC_DAYS:
            raise _HttpError(400, {"error": "invalid days; allowed: 1, 7, 14, 30, 90, 180, 365"})
        days = int(days_text)
        size = OHLC_DAYS[days]
        c, ct = coin.candles, coin.close_time
        bucket = -(-ct // size) * size  # the close time of the OHLC candle each belongs to
        select = (bucket <= now) & (bucket > now - days * DAY_SECONDS) & (ct <= now)
        if not select.any():
            return []
        b = bucket[select]
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        ends = np.r_[starts[1:], len(b)] - 1
        o, h = c.open[select][starts], np.maximum.reduceat(c.high[select], starts)
        low, close = np.minimum.reduceat(c.low[select], starts), c.close[select][ends]
        return [
            [int(b[s]) * 1000, float(o[k]), float(h[k]), float(low[k]), float(close[k])]
            for k, s in enumerate(starts)
        ]

    # --- control -------------------------------------------------------------------------------
    def control(self, path: str, query: Mapping[str, str]) -> Any:
        try:
            if path == "/advance":
                self.clock.advance(_finite(query.get("seconds", "0")))
            elif path == "/set":
                self.clock.set(_finite(query["t"]))
            elif path == "/speed":
                self.clock.set_speed(_finite(query["x"]))
            elif path == "/faults":
                self.inject(*[f for f in query.get("next", "").split(",") if f])
            elif path == "/reset":
                self.reset_stats()
            elif path == "/stats":
                with self._lock:
                    records = list(self.requests)
                return {
                    "requests": len(records),
                    "by_status": _count(str(r.status) for r in records),
                    "faults": _count(r.fault for r in records if r.fault),
                }
            elif path != "/clock":
                raise _HttpError(404, {"error": f"unknown control {path}"})
        except (KeyError, ValueError) as exc:
            raise _HttpError(400, {"error": f"bad control parameter: {exc}"}) from None
        return {"now": self.clock.now(), "speed": self.clock.speed, "iso": _iso(self.clock.now())}


_SIMPLE_FLAGS = (
    "include_market_cap",
    "include_24hr_vol",
    "include_24hr_change",
    "include_last_updated_at",
)


def _count(items: Iterable[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[str(item)] = out.get(str(item), 0) + 1
    return out


def _vs(query: Mapping[str, str], name: str) -> list[str]:
    values = [v.strip().lower() for v in query.get(name, "").split(",") if v.strip()]
    if not values or any(v != "usd" for v in values):
        raise _HttpError(400, {"error": "invalid vs_currency"})  # for either parameter
    return values


def _finite(text: str) -> float:
    """A control number; NaN or infinity would break the clock for every later request."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def _int_param(query: Mapping[str, str], name: str, default: int | None) -> Any:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(_finite(text))
    except ValueError:
        raise _HttpError(400, {"error": f"invalid {name}"}) from None


_KEY_IN_QUERY = re.compile(r"(x_cg_(?:demo|pro)_api_key=)[^&\s]*")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms stalls
    server_version = "cloudflare"
    sys_version = ""

    @property
    def replay(self) -> ReplayServer:
        return self.server.replay  # type: ignore[attr-defined,no-any-return]

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header tells the replay clock, as a real server's tells the real time."""
        return super().date_time_string(self.replay.clock.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("replay %s", _KEY_IN_QUERY.sub(r"\1<redacted>", format % args))

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith(CONTROL_PREFIX + "/"):
            try:
                self._json(200, self.replay.control(parts.path[len(CONTROL_PREFIX) :], query))
            except _HttpError as exc:
                self._json(exc.status, exc.body)
            return
        # Recorded (in `_send`) before the answer goes out, so a client that has its answer
        # always finds its request in `requests`; `at` is the arrival time.
        self._arrived: float | None = time.monotonic()
        self._fault_kind: str | None = None
        self._api(parts.path, query)

    def _api(self, path: str, query: dict[str, str]) -> tuple[int, str | None]:
        replay = self.replay
        arrived = time.monotonic()
        try:
            if not path.startswith(API_PREFIX + "/"):
                raise _HttpError(404, {"error": "Incorrect path"})
            headers = {k.lower(): v for k, v in self.headers.items()}
            key = replay._check_key(headers, query)
            limited = replay._admit(replay._who(key, self.client_address[0]))
            if limited is not None:
                status, extra = limited
                body = BODY_MONTHLY if "x-monthly-limit" in extra else BODY_429
                self._json(status, body, extra)
                return status, None
            fault = self._fault_kind = replay._next_fault()
            if fault is not None and fault not in ("slow", "truncated", "drop"):
                return self._fault(fault), fault
            if fault == "slow":
                replay.sleep(replay.faults.slow_s)
            answer = replay.route(path[len(API_PREFIX) :], query)
        except _HttpError as exc:
            self._json(exc.status, exc.body)
            return exc.status, None
        payload = json.dumps(answer, separators=(",", ":")).encode()
        if fault == "truncated":
            payload = payload[: max(1, len(payload) // 2)]
        if fault == "drop":
            self._send(200, payload, "application/json", cut=True)
            return 200, fault
        self._send(200, payload, "application/json")
        log.debug("served %s in %.3f s", path, time.monotonic() - arrived)
        return 200, fault

    def _fault(self, fault: str) -> int:
        if fault == "429":
            headers = {"x-ratelimit-limit": str(self.replay.rate_limit or 30)}
            if self.replay.retry_after:
                headers["Retry-After"] = "1"
            self._json(429, BODY_429, headers)
            return 429
        if fault == "1015":
            self._send(429, CLOUDFLARE_1015.encode(), "text/plain; charset=UTF-8")
            return 429
        if fault == "html":
            page = _HTML_PAGE.format(status=200, reason="Attention Required!")
            self._send(200, page.encode(), "text/html; charset=UTF-8")
            return 200
        status = int(fault)
        if status == 500:
            self._json(500, {"error": "Internal server error"})
        else:
            reasons = {502: "Bad gateway", 503: "Service unavailable", 504: "Gateway time-out"}
            page = _HTML_PAGE.format(status=status, reason=reasons.get(status, "Error"))
            self._send(status, page.encode(), "text/html; charset=UTF-8")
        return status

    def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._send(status, data, "application/json; charset=utf-8", headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        cut: bool = False,
    ) -> None:
        arrived = getattr(self, "_arrived", None)
        if arrived is not None:
            record = RequestRecord(arrived, urlsplit(self.path).path, status, self._fault_kind)
            with self.replay._lock:
                self.replay.requests.append(record)
            self._arrived = None
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if cut:  # the connection breaks mid-answer
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True
