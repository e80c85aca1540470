"""The dashboard in a real browser (Debian's chromium, driven by Playwright) over a local stack.

The emulator starts empty; `cryptosignals dashboard` runs as a subprocess on a free 127.0.0.1
port (it dies with this process). Then, as a user would see it: the empty-tables message; the
real pipeline replays 36 hours of the bundled sample (Kinesis -> process function -> DynamoDB)
and the page fills by itself; the three charts hold every coin, signals are drawn as markers, a
filter narrows the signals table; the last hour of ticks arrives and the page shows it without
a reload; one coin chosen gets its VaR band and regimes. With DASHBOARD_SCREENSHOT=path the page
is also saved there (docs/dashboard.png). A second test serves three weeks of one coin from
memory (no backend) for the band, the regimes and the hour-of-week heatmap; a third a week of
two coins for the levels and patterns, the alignment strip and the market panel.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dashboard_support import run_pipeline, sample_ticks

from cryptosignals.aws.config import AwsSettings
from cryptosignals.candles import SAMPLE_COINS
from cryptosignals.dashboard.figures import utc
from cryptosignals.dashboard.market import Market
from cryptosignals.dashboard.reader import DashboardReader
from cryptosignals.local.emulator import free_port
from cryptosignals.local.stack import LocalStack
from cryptosignals.market import MARKET_ID
from cryptosignals.model import Signal, SignalType
from cryptosignals.profile import hour_of_week_volatility

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@pytest.fixture
def dashboard(fresh_stack: LocalStack) -> Iterator[str]:
    """`cryptosignals dashboard` over the stack, refreshing every second; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cryptosignals", "dashboard", "--port", str(port), "--refresh", "1"],
        env={**os.environ, **fresh_stack.environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"the dashboard did not start: {stderr[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_FIGURE = """(id) => {
    const plot = document.querySelector('#' + id + ' .js-plotly-plot');
    if (!plot || !plot._fullData) return null;
    // _fullData: numpy arrays arrive base64-encoded and are decoded into typed arrays there
    return plot._fullData.map(t => ({
        name: t.name, mode: t.mode || null, type: t.type || 'scatter',
        x: t.x ? Array.from(t.x) : [], y: t.y ? Array.from(t.y) : [],
        z: t.z ? Array.from(t.z, row => Array.from(row)) : null,
        symbol: t.marker && typeof t.marker.symbol === 'string' ? t.marker.symbol : null,
        hover: t.hovertemplate || null}));
}"""


def _figure(page: Any, chart: str) -> list[dict[str, Any]]:
    return page.evaluate(_FIGURE, chart) or []


_SHAPES = """(id) => {
    const plot = document.querySelector('#' + id + ' .js-plotly-plot');
    if (!plot || !plot._fullLayout) return [];
    return (plot._fullLayout.shapes || []).map(s => ({name: s.name, showlegend: s.showlegend,
        x0: s.x0, x1: s.x1, fill: s.fillcolor}));
}"""


def _shapes(page: Any, chart: str) -> list[dict[str, Any]]:
    return page.evaluate(_SHAPES, chart) or []


def _legend(page: Any, chart: str) -> set[str]:
    """The names shown in the chart's legend, as drawn in the browser."""
    items = page.locator(f"#{chart} .legend .legendtext")
    return {items.nth(i).text_content() or "" for i in range(items.count())}


def _column(page: Any, table: str, column: str) -> list[str]:
    cells = page.locator(f"#{table} td[data-dash-column='{column}']")
    return [cells.nth(i).inner_text() for i in range(cells.count())]


def _wait_for_status(page: Any, text: str) -> None:
    page.wait_for_function(
        "(t) => (document.querySelector('#status') || {}).innerText?.includes(t)",
        arg=text,
        timeout=WAIT_MS,
    )


def _wait_for_plot(page: Any, chart: str, condition: str) -> None:
    """Until the chart's Plotly traces meet `condition` (a JavaScript expression of `data`)."""
    page.wait_for_function(
        f"() => {{ const data = (document.querySelector('#{chart} .js-plotly-plot') || {{}}).data;"
        f" return !!data && ({condition}); }}",
        timeout=WAIT_MS,
    )


def _wait_for_chart_end(page: Any, end: int) -> None:
    """Until every coin's price line ends at `end` (a refresh may land mid-write)."""
    page.wait_for_function(
        """([coins, end]) => {
            const plot = document.querySelector('#price-chart .js-plotly-plot');
            if (!plot || !plot.data) return false;
            return coins.every(coin => {
                const line = plot.data.find(t => t.name === coin);
                return line && line.x[line.x.length - 1] === end; }); }""",
        arg=[list(SAMPLE_COINS), f"{utc(end)[:10]}T{utc(end)[11:16]}:00"],
        timeout=WAIT_MS,
    )


def test_dashboard_fills_from_the_pipeline_filters_signals_and_refreshes_by_itself(
    fresh_stack: LocalStack, dashboard: str
) -> None:
    ticks = {coin: sample_ticks(coin, 1.5) for coin in SAMPLE_COINS}
    with _browser(dashboard) as (page, errors):
        # 1. The page loads; the tables are empty and it says so.
        _wait_for_status(page, "tables are empty")
        assert "Traceback" not in page.inner_text("body")

        # 2. The pipeline stores all but the last hour; the page fills without a reload.
        run_pipeline(fresh_stack, [series[:-12] for series in ticks.values()])
        first_end = int(ticks["bitcoin"].timestamp[-13])
        _wait_for_status(page, f"newest tick {utc(first_end)}")
        _wait_for_chart_end(page, first_end)
        _wait_for_plot(page, "correlation-matrix", "data[0]?.x?.length === 4")

        # 3. The three charts hold data for every coin.
        price = _figure(page, "price-chart")
        lines = {t["name"]: t for t in price if t["mode"] == "lines"}
        for coin in SAMPLE_COINS:
            assert len(lines[coin]["x"]) == 288, coin  # 24h of 5-minute ticks
            assert all(y is not None for y in lines[coin]["y"])
            last = lines[coin]["x"][-1]
            assert last.startswith(utc(first_end)[:10])
            assert last.endswith(utc(first_end)[11:16] + ":00")
        heatmap = _figure(page, "volume-heatmap")[0]
        assert sorted(heatmap["y"]) == sorted(SAMPLE_COINS)
        assert all(sum(v is not None for v in row) == 24 for row in heatmap["z"])
        correlation = _figure(page, "correlation-matrix")[0]
        assert sorted(correlation["x"]) == sorted(SAMPLE_COINS)
        assert all(v is not None for row in correlation["z"] for v in row)
        assert len(_column(page, "beta-table", "coin")) == 3
        assert sorted(_column(page, "aggregates-table", "coin")) == sorted(SAMPLE_COINS)
        # the latest forecast and regime the process function stored, per coin
        assert sorted(_column(page, "risk-table", "coin")) == sorted(SAMPLE_COINS)
        assert all(float(v) > 0 for v in _column(page, "risk-table", "var_99_1h"))
        assert set(_column(page, "risk-table", "regime")) <= {
            "calm", "normal", "volatile", "turbulent"}  # fmt: skip
        # several coins: neither band nor regimes; a day and a half is too little to profile
        assert "1h VaR99" not in lines and not _shapes(page, "price-chart")
        page.locator("#profile-heatmap").get_by_text("at least two weeks").wait_for(timeout=WAIT_MS)

        # 4. By default only actionable signals are drawn: a day and a half of real data
        # earns no rule an alert, so there is no marker and the table is empty.
        assert not [t for t in price if t["mode"] == "markers"]
        assert _column(page, "signals-table", "type") == []
        # The switch shows every firing: markers, BUY up, SELL down, with rule, confidence
        # and the rule's track record on hover.
        page.locator("#signal-scope input[value='all']").click()
        _wait_for_plot(page, "price-chart", "data.some(t => t.mode === 'markers')")
        price = _figure(page, "price-chart")
        markers = {t["name"]: t for t in price if t["mode"] == "markers"}
        assert markers["BUY"]["symbol"] == "triangle-up" and markers["BUY"]["x"]
        assert markers["SELL"]["symbol"] == "triangle-down" and markers["SELL"]["x"]
        assert "rule:" in markers["BUY"]["hover"] and "confidence" in markers["BUY"]["hover"]
        assert "record:" in markers["BUY"]["hover"]
        page.wait_for_function(
            "() => document.querySelectorAll('#signals-table td').length > 0",
            timeout=WAIT_MS,
        )

        # 5. A filter works: only ALERT signals left when BUY and SELL are unticked.
        types = _column(page, "signals-table", "type")
        assert {"BUY", "SELL"} <= set(types)
        page.locator("#signal-types input[value='BUY']").click()
        page.locator("#signal-types input[value='SELL']").click()
        page.wait_for_function(
            """() => { const cells = [...document.querySelectorAll(
                    "#signals-table td[data-dash-column='type']")];
                return cells.length > 0 && cells.every(c => c.innerText === 'ALERT'); }""",
            timeout=WAIT_MS,
        )
        assert set(_column(page, "signals-table", "type")) == {"ALERT"}
        page.locator("#signal-types input[value='BUY']").click()
        page.locator("#signal-types input[value='SELL']").click()
        page.wait_for_function(
            """() => [...document.querySelectorAll("#signals-table td")]
                .some(c => c.dataset.dashColumn === 'type' && c.innerText !== 'ALERT')""",
            timeout=WAIT_MS,
        )

        # 6. The last hour of ticks arrives; the next refresh shows it, no reload.
        run_pipeline(fresh_stack, [series[-12:] for series in ticks.values()])
        last_end = int(ticks["bitcoin"].timestamp[-1])
        _wait_for_status(page, f"newest tick {utc(last_end)}")
        _wait_for_chart_end(page, last_end)
        lines = {t["name"]: t for t in _figure(page, "price-chart") if t["mode"] == "lines"}
        for coin, series in ticks.items():
            assert lines[coin]["y"][-1] == pytest.approx(
                100.0 * series.price[-1] / series.price[-288]
            )

        # 7. One coin chosen: its 1h VaR99 band and regimes, named in the legend.
        page.locator("#coins").click()
        page.keyboard.type("bitcoin")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        _wait_for_plot(page, "price-chart", "data.some(t => t.name === '1h VaR99')")
        lines = {t["name"]: t for t in _figure(page, "price-chart") if t["mode"] == "lines"}
        assert set(lines) >= {"bitcoin", "1h VaR99"} and "ethereum" not in lines
        assert lines["1h VaR99"]["x"][-1] == lines["bitcoin"]["x"][-1]
        assert all(y < p for y, p in zip(lines["1h VaR99"]["y"][-12:],
                                         lines["bitcoin"]["y"][-12:], strict=True))  # fmt: skip
        legend = _legend(page, "price-chart")
        assert "1h VaR99" in legend and any(n.startswith("regime: ") for n in legend)
        assert errors == [], errors

        page.wait_for_timeout(500)
        screenshot = page.screenshot(full_page=True)
        assert len(screenshot) > 50_000
        target = os.environ.get("DASHBOARD_SCREENSHOT")
        if target:
            Path(target).write_bytes(screenshot)


@contextlib.contextmanager
def _browser(url: str) -> Iterator[tuple[Any, list[str]]]:
    """The page at `url` in headless Chromium, and the script errors it raises."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


@contextlib.contextmanager
def _served(reader: DashboardReader) -> Iterator[str]:
    """The app over `reader` in this process (werkzeug on a free port); yields its URL."""
    from werkzeug.serving import make_server

    from cryptosignals.dashboard.app import create_app

    app = create_app(reader, refresh_seconds=1)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_an_unreachable_endpoint_is_a_message_on_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{free_port()}"
    reader = DashboardReader(AwsSettings(endpoint_url=endpoint))
    with _served(reader) as url, _browser(url) as (page, _):
        _wait_for_status(page, f"Cannot reach DynamoDB at {endpoint}")
        assert "Traceback" not in page.inner_text("body")
        page.locator("#price-chart").get_by_text("No ticks yet").wait_for(timeout=WAIT_MS)
        page.locator("#correlation-matrix").get_by_text("needs at least two").wait_for(
            timeout=WAIT_MS
        )


class _Held(DashboardReader):
    """A reader that holds one market and reads nothing (the page without a backend)."""

    def __init__(self, market: Market) -> None:
        super().__init__(AwsSettings(endpoint_url="http://127.0.0.1:9"))
        self.market = market

    def refresh(self) -> Market:
        return self.market


def test_one_coin_shows_its_var_band_regimes_and_when_it_moves() -> None:
    """Three weeks of bitcoin: the band and the regimes on the price chart, named in the legend,
    the switch turns them off; the hour-of-week heatmap with its flagged cells."""
    ticks = sample_ticks("bitcoin", 21)
    found = hour_of_week_volatility(ticks.timestamp, ticks.price)
    with _served(_Held(Market({"bitcoin": ticks}))) as url, _browser(url) as (page, errors):
        _wait_for_plot(page, "price-chart", "data.some(t => t.name === '1h VaR99')")
        price = {t["name"]: t for t in _figure(page, "price-chart")}
        band, line = price["1h VaR99"], price["bitcoin"]
        assert len(band["x"]) == 288 and band["x"][-1] == line["x"][-1]
        assert all(low < high for low, high in zip(band["y"], price["1h VaR99 (up)"]["y"],
                                                   strict=True))  # fmt: skip
        shapes = _shapes(page, "price-chart")
        named = {s["name"] for s in shapes if s["showlegend"]}
        assert shapes and named <= {f"regime: {n}" for n in
                                    ("calm", "normal", "volatile", "turbulent")}  # fmt: skip
        assert {"bitcoin", "1h VaR99"} | named <= _legend(page, "price-chart")

        _wait_for_plot(page, "profile-heatmap", "data[0]?.type === 'heatmap'")
        heatmap, marks = _figure(page, "profile-heatmap")
        assert heatmap["y"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        assert len(heatmap["z"]) == 7 and all(len(row) == 24 for row in heatmap["z"])
        assert len(marks["x"]) == int(found.flagged.sum()) > 0
        assert page.locator("#profile-heatmap .heatmaplayer image").count() == 1

        page.locator("#overlays input[value='band']").click()
        page.locator("#overlays input[value='regimes']").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('#price-chart .js-plotly-plot');"
            " return p && !p.data.some(t => t.name === '1h VaR99')"
            " && !(p.layout.shapes || []).length; }",
            timeout=WAIT_MS,
        )
        assert "regime: normal" not in _legend(page, "price-chart")
        assert errors == [], errors


def test_levels_alignment_strip_and_market_panel_render() -> None:
    """A week of two coins from memory, one page load: the market panel's breadth and PC1 share
    lines and a market alert with its record, the alignment strip of the first coin (four
    timeframes), the signals table's context columns; bitcoin chosen: its price fan, its
    support and resistance zones and breakouts, which the switch turns off."""
    from cryptosignals.dashboard.figures import FAN_CLAIM, MARKET_LINES

    series = {coin: sample_ticks(coin, 7) for coin in ("bitcoin", "ethereum")}
    end = int(series["bitcoin"].timestamp[-1])
    alert = Signal(MARKET_ID, end - 3600, SignalType.ALERT, "market_breadth_up", "1h", 101.0,
                   0.5, details={"index": 101.0, "breadth_up": 0.9},
                   evidence={"n": 12.0, "hit_rate": 0.5, "mean_net_bp": 10.0,
                             "p_adjusted": 0.3})  # fmt: skip
    held = Market(series, [alert])
    with _served(_Held(held)) as url, _browser(url) as (page, errors):
        _wait_for_plot(page, "market-panel", "data.length >= 3")
        lines = {t["name"]: t for t in _figure(page, "market-panel")}
        for _, name, _ in MARKET_LINES:
            assert len(lines[name]["x"]) > 250
            assert all(0 <= y <= 1 for y in lines[name]["y"] if y is not None)
        marked = lines["market alert (not actionable)"]
        assert marked["symbol"] == "diamond-open" and marked["y"] == [0.9]
        assert "record:" in marked["hover"]
        _wait_for_plot(page, "alignment-strip", "data[0]?.type === 'heatmap'")
        strip = _figure(page, "alignment-strip")[0]
        assert strip["y"] == ["5m", "15m", "1h", "4h"]
        assert {v for row in strip["z"] for v in row} <= {-1, 0, 1} and len(strip["z"][0]) > 250
        headers = {h.strip() for h in page.locator("#signals-table th").all_inner_texts()}
        assert {"alignment", "counter-trend", "to support (ATR)", "4h", "BTC-driven"} <= headers

        page.locator("#coins").click()
        page.keyboard.type("bitcoin")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        _wait_for_plot(
            page, "price-chart", "data.some(t => t.name === 'support' || t.name === 'resistance')"
        )
        price = {t["name"]: t for t in _figure(page, "price-chart")}
        names = set(price)
        assert "ethereum" not in names and "breakout" in names
        cone = price["price fan 10-90 %"]  # after the last bar, from the held ticks' engine
        assert len(cone["x"]) == 4 and cone["x"][0] == price["bitcoin"]["x"][-1]
        assert FAN_CLAIM in cone["hover"]
        assert {"support", "resistance"} & _legend(page, "price-chart")
        page.locator("#overlays input[value='structure']").click()
        page.wait_for_function(
            "() => { const p = document.querySelector('#price-chart .js-plotly-plot');"
            " return p && p.data.some(t => t.name === 'bitcoin') && !p.data.some("
            "t => ['support', 'resistance', 'breakout'].includes(t.name)); }",
            timeout=WAIT_MS,
        )
        assert errors == [], errors
