"""Integration: the replay server speaks CoinGecko's HTTP API (checked with plain requests)."""

from __future__ import annotations

import gzip
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from cg_support import example

from cryptosignals.candles import sample_path
from cryptosignals.coingecko import FaultPlan, ReplayServer
from cryptosignals.coingecko.replay import load_candles
from cryptosignals.errors import BadInputError

pytestmark = pytest.mark.integration
Start = Callable[..., ReplayServer]


def get(server: ReplayServer, path: str, **params: object) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=5)


def _window_start(window_s: float, margin_s: float) -> None:
    """Sleep into a fresh fixed window if fewer than `margin_s` seconds are left of this one."""
    left = window_s - time.time() % window_s
    if left < margin_s:
        time.sleep(left + 0.01)


def test_over_the_limit_the_answer_is_coingeckos_429_with_its_headers(start_server: Start) -> None:
    server = start_server(rate_limit=3, rate_window_s=30)
    _window_start(30, 2.0)
    answers = [get(server, "/ping") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[3]
    assert limited.json() == example("error_429.json")
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = datetime.strptime(limited.headers["x-ratelimit-reset"], "%Y-%m-%d %H:%M:%S %z")
    assert 0 <= reset.timestamp() - time.time() <= 31
    assert "Retry-After" not in limited.headers  # as CoinGecko in 2025


def test_retry_after_is_sent_when_asked_and_the_window_resets(start_server: Start) -> None:
    server = start_server(rate_limit=1, rate_window_s=1.0, retry_after=True)
    _window_start(1.0, 0.8)
    assert get(server, "/ping").status_code == 200
    limited = get(server, "/ping")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    time.sleep(1.0)
    assert get(server, "/ping").status_code == 200


def test_the_monthly_limit_answers_429_once_spent(start_server: Start) -> None:
    server = start_server(monthly_limit=2)
    statuses = [get(server, "/ping").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_the_clock_is_controlled_over_http_and_in_python(server: ReplayServer) -> None:
    control = requests.Session()
    clock = control.get(f"{server.root_url}/_replay/clock", timeout=5).json()
    assert clock["now"] == server.clock.now() and clock["speed"] == 0
    moved = control.post(f"{server.root_url}/_replay/advance?seconds=600", timeout=5).json()
    assert moved["now"] == clock["now"] + 600
    server.clock.advance(-300)
    assert server.clock.now() == clock["now"] + 300
    server.clock.set(0)  # held inside the data
    assert server.clock.now() == server.clock.first
    assert control.post(f"{server.root_url}/_replay/set?t=x", timeout=5).status_code == 400
    for bad in ("advance?seconds=nan", "speed?x=inf", "set?t=-inf"):
        assert control.post(f"{server.root_url}/_replay/{bad}", timeout=5).status_code == 400
    assert control.get(f"{server.root_url}/_replay/clock", timeout=5).json()["now"] == (
        server.clock.now()
    )  # still a working clock


def test_a_speed_factor_runs_the_market_faster_than_the_wall(start_server: Start) -> None:
    server = start_server(speed=600)
    before = server.clock.now()
    time.sleep(0.2)
    assert 0.2 * 600 <= server.clock.now() - before <= 1.0 * 600
    requests.post(f"{server.root_url}/_replay/speed?x=0", timeout=5)
    frozen = server.clock.now()
    time.sleep(0.05)
    assert server.clock.now() == frozen


def test_the_date_header_tells_the_replay_clock(server: ReplayServer) -> None:
    answer = get(server, "/ping")
    assert parsedate_to_datetime(answer.headers["Date"]).timestamp() == server.clock.now()


def test_nothing_after_the_replay_clock_is_served(server: ReplayServer) -> None:
    now = server.clock.now()
    price = get(
        server, "/simple/price", ids="bitcoin", vs_currencies="usd", include_last_updated_at="true"
    ).json()
    assert price["bitcoin"]["last_updated_at"] <= now
    chart = get(
        server,
        "/coins/bitcoin/market_chart/range",
        vs_currency="usd",
        **{"from": now - 3600, "to": now + 86_400},
    ).json()
    assert max(t for t, _ in chart["prices"]) <= now * 1000


def test_simple_price_drops_unknown_ids_and_answers_empty_when_none_is_known(
    server: ReplayServer,
) -> None:
    assert get(server, "/simple/price", ids="nope,nada", vs_currencies="usd").json() == {}
    answer = get(server, "/simple/price", ids="nope,bitcoin", vs_currencies="usd").json()
    assert list(answer) == ["bitcoin"] and list(answer["bitcoin"]) == ["usd"]


@pytest.mark.parametrize(
    ("path", "params", "status", "body"),
    [
        (
            "/coins/nope/market_chart",
            {"vs_currency": "usd", "days": 1},
            404,
            example("error_404_coin_not_found.json"),
        ),
        (
            "/simple/price",
            {"ids": "bitcoin", "vs_currencies": "usdt"},
            400,
            {"error": "invalid vs_currency"},
        ),
        (
            "/coins/markets",
            {"vs_currency": "usdt"},
            400,
            example("error_400_invalid_vs_currency.json"),
        ),
    ],
)
def test_errors_have_coingeckos_bodies(
    server: ReplayServer, path: str, params: dict, status: int, body: dict
) -> None:
    answer = get(server, path, **params)
    assert answer.status_code == status and answer.json() == body


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": "max"}, 401, 10012),
        ("/coins/bitcoin/market_chart", {"vs_currency": "usd", "days": 366}, 401, 10012),
        (
            "/coins/bitcoin/market_chart",
            {"vs_currency": "usd", "days": 2, "interval": "hourly"},
            401,
            10005,
        ),
        ("/coins/bitcoin/ohlc", {"vs_currency": "usd", "days": 2}, 400, None),
        ("/coins/markets", {"vs_currency": "usd", "per_page": 251}, 400, None),
        ("/coins/markets", {"vs_currency": "usd", "per_page": "inf"}, 400, None),
        (
            "/coins/bitcoin/market_chart/range",
            {"vs_currency": "usd", "from": 5, "to": 1},
            400,
            None,
        ),
        ("/no/such/path", {}, 404, None),
    ],
)
def test_requests_outside_the_demo_plan_or_the_api_are_refused(
    server: ReplayServer, path: str, params: dict, status: int, code: int | None
) -> None:
    answer = get(server, path, **params)
    assert answer.status_code == status
    if code == 10012:
        assert answer.json()["error"]["status"]["error_code"] == 10012  # shape C
    elif code is not None:
        assert answer.json()["status"]["error_code"] == code


def test_injected_faults_have_the_real_worlds_shapes(server: ReplayServer) -> None:
    server.inject("1015", "502", "html", "truncated")
    banned = get(server, "/ping")
    assert (banned.status_code, banned.text) == (429, "error code: 1015")
    gateway = get(server, "/ping")
    assert gateway.status_code == 502 and "<title>" in gateway.text
    page = get(server, "/ping")
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    cut = get(server, "/simple/price", ids="bitcoin", vs_currencies="usd")
    assert cut.status_code == 200 and cut.text.startswith("{") and not cut.text.endswith("}")
    stats = requests.get(f"{server.root_url}/_replay/stats", timeout=5).json()
    assert stats["requests"] == 4 and stats["faults"] == {
        "1015": 1,
        "502": 1,
        "html": 1,
        "truncated": 1,
    }


def test_a_fault_plan_is_parsed_and_checked() -> None:
    plan = FaultPlan.parse("429=0.1,5xx=0.05,slow=0.02,seed=7,slow_s=3")
    assert plan.rates == {"429": 0.1, "5xx": 0.05, "slow": 0.02}
    assert (plan.seed, plan.slow_s) == (7, 3.0)
    for bad in ("teapot=0.1", "429=lots", "429=0.8,5xx=0.8", "429"):
        with pytest.raises(BadInputError):
            FaultPlan.parse(bad)


def test_a_data_directory_of_candle_files_is_served(tmp_path: Path) -> None:
    shutil.copy(sample_path("cardano"), tmp_path / "cardano_5m.csv.gz")
    (tmp_path / "bitcoin_1d.csv.gz").write_bytes(gzip.compress(b"timestamp,price\n"))
    assert list(load_candles(tmp_path)) == ["cardano"]
    with ReplayServer(tmp_path) as server:
        assert list(get(server, "/coins/list").json()[0].values()) == ["cardano", "ada", "Cardano"]
    with pytest.raises(BadInputError, match="no 5m candles"):
        load_candles(tmp_path, ["bitcoin"])


def test_the_server_listens_on_loopback_only() -> None:
    with pytest.raises(BadInputError):
        ReplayServer(host="0.0.0.0")


def test_the_python_example_in_the_docs_runs() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "coingecko.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/coingecko.md", "exec"), {})
