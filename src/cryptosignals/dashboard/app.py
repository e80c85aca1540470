"""The Dash page: layout and callbacks, thin glue between `DashboardReader` and `figures`.

A `dcc.Interval` triggers `refresh` (the reader reads only what is new); every chart and table
callback takes the snapshot version as input, so the page updates itself without a reload.
A failed read keeps the last good snapshot on screen and says what went wrong in the banner.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import dash
from dash import Input, Output, State, dash_table, dcc, html

from cryptosignals.dashboard import figures, overlays
from cryptosignals.dashboard.market import Market, Span
from cryptosignals.dashboard.reader import DashboardReader, DataUnavailableError
from cryptosignals.market import MARKET_ID
from cryptosignals.model import SignalType

#: SMA periods offered as overlays, in ticks.
MA_PERIODS = (20, 50, 200)
#: Coins drawn on the price chart when none is chosen.
DEFAULT_CHART_COINS = 8
_TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "fontFamily": "system-ui, sans-serif",
        "fontSize": 13,
        "padding": "4px 8px",
        "textAlign": "left",
    },
    "style_header": {"fontWeight": "bold", "backgroundColor": "#f4f4f4"},
}
_logger = logging.getLogger(__name__)


def _safe(title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A chart callback that fails draws a message instead of leaving a broken page."""

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any) -> Any:
            try:
                return function(*args)
            except Exception as exc:  # the page must stay usable whatever a figure does
                _logger.exception("%s failed", title)
                return figures.message_figure(f"Could not draw: {exc}", title)

        return run

    return wrap


def default_coins(market: Market) -> list[str]:
    return market.coins[:DEFAULT_CHART_COINS]


def status_text(market: Market, error: str | None, seconds: float, loading: bool = False) -> str:
    """The banner: what is shown and how fresh it is, or what is wrong."""
    if error:
        kept = f" Showing the last data read ({market.tick_count} ticks)." if market.coins else ""
        return f"{error}{kept}"
    if not market.coins:
        return (
            "The tables are empty: no ticks yet. Start the pipeline (make demo, or deploy the "
            "stack and let it ingest); this page refreshes by itself."
        )
    return (
        f"{len(market.coins)} coins · {market.tick_count:,} ticks · {len(market.signals):,} "
        f"signals · newest tick {figures.utc(market.as_of or 0)} · read in {seconds * 1000:.0f} ms"
        + (" · reading older ticks…" if loading else "")
    )


def _controls() -> html.Div:
    return html.Div(
        className="controls",
        style={"display": "flex", "gap": "24px", "flexWrap": "wrap", "alignItems": "center"},
        children=[
            html.Div(
                [
                    html.Label("Span "),
                    dcc.RadioItems(
                        id="span",
                        options=[{"label": s.label, "value": int(s)} for s in Span],
                        value=int(Span.H24),
                        inline=True,
                    ),
                ]
            ),
            html.Div(
                style={"minWidth": "320px", "flex": "1"},
                children=[
                    dcc.Dropdown(
                        id="coins",
                        multi=True,
                        placeholder=(
                            f"coins on the price chart (default: the first {DEFAULT_CHART_COINS})"
                        ),
                    )
                ],
            ),
            html.Div(
                [
                    html.Label("Signals "),
                    dcc.RadioItems(
                        id="signal-scope",
                        options=[
                            {
                                "label": "actionable (earned by their track record)",
                                "value": "actionable",
                            },
                            {"label": "every firing", "value": "all"},
                        ],
                        value="actionable",
                        inline=True,
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("One coin: "),
                    dcc.Checklist(
                        id="overlays",
                        options=[
                            {"label": "1h VaR99 band", "value": "band"},
                            {"label": "price fan", "value": "fan"},
                            {"label": "30m fan over time", "value": "fan_band"},
                            {"label": "regimes", "value": "regimes"},
                            {"label": "levels and patterns", "value": "structure"},
                        ],
                        value=["band", "fan", "regimes", "structure"],
                        inline=True,
                    ),
                ],
                title=(
                    "Drawn when one coin is chosen, by the stream's own code: the fitted "
                    "volatility and regime models, the price fan (10-90 % in 5, 15, 30 "
                    "minutes, calibrated out of sample), the structure tracker on 1h bars"
                ),
            ),
            html.Div(
                [
                    html.Label("Moving averages "),
                    dcc.Checklist(
                        id="ma",
                        options=[{"label": f"SMA {p}", "value": p} for p in MA_PERIODS],
                        value=[MA_PERIODS[0]],
                        inline=True,
                    ),
                ]
            ),
        ],
    )


def _signal_filters() -> html.Div:
    return html.Div(
        style={"display": "flex", "gap": "24px", "flexWrap": "wrap", "alignItems": "center"},
        children=[
            html.Div(
                style={"minWidth": "220px"},
                children=[dcc.Dropdown(id="signal-coins", multi=True, placeholder="any coin")],
            ),
            dcc.Checklist(
                id="signal-types",
                options=[{"label": str(t), "value": str(t)} for t in SignalType],
                value=[str(t) for t in SignalType],
                inline=True,
            ),
            html.Div(
                style={"minWidth": "260px"},
                children=[dcc.Dropdown(id="signal-rules", multi=True, placeholder="any rule")],
            ),
            html.Div(
                style={"minWidth": "280px"},
                children=[
                    html.Label("Minimum confidence"),
                    dcc.Slider(
                        id="min-confidence",
                        min=0.0,
                        max=1.0,
                        step=0.1,
                        value=0.0,
                        marks={v / 10: f"{v / 10:g}" for v in range(0, 11, 2)},
                    ),
                ],
            ),
        ],
    )


def _table(
    table_id: str, columns: Sequence[tuple[str, str | Sequence[str]]], page_size: int
) -> Any:
    """A sortable table; a column named by a list gets one header row per item, equal
    neighbours merged (a group over its columns)."""
    grouped = any(not isinstance(name, str) for _, name in columns)
    return dash_table.DataTable(  # type: ignore[attr-defined]
        id=table_id,
        columns=[
            {"name": name if isinstance(name, str) else list(name), "id": key}
            for key, name in columns
        ],
        data=[],
        page_size=page_size,
        sort_action="native",
        merge_duplicate_headers=grouped,
        **_TABLE_STYLE,
    )


def layout(refresh_seconds: float) -> html.Div:
    return html.Div(
        style={"fontFamily": "system-ui, sans-serif", "margin": "12px 24px"},
        children=[
            html.H2("cryptosignals", style={"margin": "4px 0"}),
            html.Div(
                "Reading the tables…",
                id="status",
                role="status",
                style={"padding": "6px 10px", "background": "#eef3f8", "borderRadius": "4px"},
            ),
            dcc.Interval(id="refresh", interval=int(refresh_seconds * 1000), n_intervals=0),
            dcc.Store(id="version", data={"version": 0}),
            html.Hr(),
            _controls(),
            dcc.Graph(id="price-chart", style={"height": "480px"}),
            dcc.Graph(id="alignment-strip", style={"height": "170px"}),
            html.Div(
                style={"display": "flex", "flexWrap": "wrap"},
                children=[
                    html.Div(
                        style={"flex": "1", "minWidth": "480px"},
                        children=[
                            dcc.RadioItems(
                                id="heatmap-metric",
                                options=[
                                    {"label": "24h volume", "value": "volume"},
                                    {"label": "price activity", "value": "activity"},
                                ],
                                value="volume",
                                inline=True,
                            ),
                            dcc.Graph(id="volume-heatmap", style={"height": "420px"}),
                        ],
                    ),
                    html.Div(
                        style={"flex": "1", "minWidth": "480px"},
                        children=[dcc.Graph(id="correlation-matrix", style={"height": "444px"})],
                    ),
                ],
            ),
            dcc.Graph(id="market-panel", style={"height": "340px"}),
            dcc.Graph(id="profile-heatmap", style={"height": "360px"}),
            html.H4("Risk and regime now (stored by the pipeline with the 60-minute aggregate)"),
            _table(
                "risk-table",
                [
                    ("coin", "coin"),
                    ("as_of", "as of"),
                    ("regime", "regime"),
                    ("likeliest", "likeliest now (p)"),
                    ("var_99_1h", "1h VaR99 %"),
                    ("sigma_1h", "1h sigma %"),
                    ("position_size", "position size %"),
                    ("budget", "for a 1h VaR99 budget of %"),
                ],
                20,
            ),
            html.H4("Altcoins against bitcoin now (5-minute returns, half-life a day)"),
            _table(
                "beta-table",
                [
                    ("coin", "coin"),
                    ("corr_bitcoin", "correlation to bitcoin"),
                    ("beta_bitcoin", "beta to bitcoin"),
                    ("explained", "bitcoin's share of the last hour's move %"),
                    ("driven", "bitcoin-driven"),
                    ("source", "from"),
                ],
                10,
            ),
            html.H4("Latest signals"),
            _signal_filters(),
            _table("signals-table", figures.SIGNAL_COLUMNS, 15),
            html.H4("Rolling aggregates (latest window per coin)"),
            _table(
                "aggregates-table",
                [
                    ("coin", "coin"),
                    ("as_of", "as of"),
                    *[(f"avg_{w}", f"avg {w}") for w in ("5m", "30m", "60m", "24h")],
                    *[(f"chg_{w}", f"chg % {w}") for w in ("5m", "30m", "60m", "24h")],
                    ("low_24h", "24h low"),
                    ("high_24h", "24h high"),
                    ("volume_24h", "24h volume (mean)"),
                    ("samples_24h", "ticks 24h"),
                ],
                20,
            ),
        ],
    )


def create_app(reader: DashboardReader, refresh_seconds: float = 5.0) -> dash.Dash:
    """The Dash app over `reader`; each interval re-reads what is new."""
    app = dash.Dash(__name__, title="cryptosignals", update_title="")
    app.layout = layout(refresh_seconds)

    @app.callback(
        Output("version", "data"),
        Output("status", "children"),
        Output("status", "style"),
        Output("coins", "options"),
        Output("signal-coins", "options"),
        Output("signal-rules", "options"),
        Input("refresh", "n_intervals"),
        Input("span", "value"),
        State("version", "data"),
        State("status", "style"),
    )
    def refresh(_: int, span: int, version: dict[str, Any], style: dict[str, Any]) -> Any:
        # more than the span: the VaR band and the regimes are warm at its left edge
        reader.want_history(int(span or Span.H24) + overlays.WARMUP_SECONDS)
        started = time.perf_counter()
        error = None
        try:
            market = reader.refresh()
        except DataUnavailableError as exc:
            market, error = reader.market, str(exc)
        seconds = time.perf_counter() - started
        coins = [{"label": c, "value": c} for c in market.coins]
        # the market's alerts are signals of a coin without ticks: a choice of the filter only
        alerts = any(s.crypto_id == MARKET_ID for s in market.signals)
        signal_coins = coins + ([{"label": MARKET_ID, "value": MARKET_ID}] if alerts else [])
        rules = sorted({s.rule for s in market.signals})
        style = {**(style or {}), "background": "#fde8e8" if error else "#eef3f8"}
        # the charts redraw only when what they show changed (a redraw of every chart at each
        # interval costs ~0.5 s at 50 coins, and a slow one would be overtaken by the next)
        seen = [market.as_of, market.tick_count, len(market.signals), len(market.aggregates),
                reader.loading, error]  # fmt: skip
        version = version or {}
        bumped = {"version": int(version.get("version", 0)) + 1, "as_of": market.as_of,
                  "error": error, "seen": seen}  # fmt: skip
        return (
            bumped if version.get("seen") != seen else dash.no_update,
            status_text(market, error, seconds, reader.loading),
            style,
            coins,
            signal_coins,
            [{"label": r, "value": r} for r in rules],
        )

    @app.callback(
        Output("price-chart", "figure"),
        Input("version", "data"),
        Input("span", "value"),
        Input("coins", "value"),
        Input("ma", "value"),
        Input("signal-scope", "value"),
        Input("overlays", "value"),
    )
    @_safe("Price")
    def price(
        _: Any,
        span: int,
        coins: list[str] | None,
        ma: list[int] | None,
        scope: str | None,
        overlays: list[str] | None,
    ) -> Any:
        market = reader.market
        overlays = overlays or []
        return figures.price_figure(
            market, coins or default_coins(market), int(span or Span.H24), sorted(ma or []),
            actionable_only=scope != "all", band="band" in overlays,
            regimes="regimes" in overlays, structure="structure" in overlays,
            fan="fan" in overlays, fan_band="fan_band" in overlays,
        )  # fmt: skip

    @app.callback(
        Output("alignment-strip", "figure"),
        Input("version", "data"),
        Input("span", "value"),
        Input("coins", "value"),
    )
    @_safe("Timeframe alignment")
    def alignment(_: Any, span: int, coins: list[str] | None) -> Any:
        market = reader.market
        chosen = coins or default_coins(market)
        return figures.alignment_figure(
            market, chosen[0] if chosen else None, int(span or Span.H24)
        )

    @app.callback(
        Output("market-panel", "figure"),
        Input("version", "data"),
        Input("span", "value"),
        State("market-panel", "figure"),
    )
    @_safe("Market co-movement")
    def comovement(_: Any, span: int, shown: dict[str, Any] | None) -> Any:
        # the trackers start again whenever older ticks arrive: while the reader is still
        # reading them, keep what is drawn (all coins' bars are fed once the history is held)
        if reader.loading:
            if shown and shown.get("data"):
                return dash.no_update
            return figures.message_figure("Reading older ticks…", "Market co-movement")
        return figures.market_figure(reader.market, int(span or Span.H24))

    @app.callback(
        Output("profile-heatmap", "figure"),
        Input("version", "data"),
        Input("coins", "value"),
    )
    @_safe("When does it move")
    def profile(_: Any, coins: list[str] | None) -> Any:
        market = reader.market
        chosen = coins or default_coins(market)
        return figures.profile_figure(market, chosen[0] if chosen else None)

    @app.callback(
        Output("volume-heatmap", "figure"),
        Output("correlation-matrix", "figure"),
        Output("beta-table", "data"),
        Input("version", "data"),
        Input("span", "value"),
        Input("heatmap-metric", "value"),
    )
    def matrices(_: Any, span: int, metric: str) -> Any:
        market = reader.market
        span = int(span or Span.H24)
        heatmap = _safe("Volume")(figures.volume_heatmap)(market, market.coins, span, metric)
        try:
            returns = figures.returns_of(market, market.coins, span)
            return heatmap, figures.correlation_figure(returns), figures.beta_rows(market)
        except Exception as exc:
            _logger.exception("correlation failed")
            return heatmap, figures.message_figure(f"Could not draw: {exc}", "Correlation"), []

    @app.callback(
        Output("signals-table", "data"),
        Input("version", "data"),
        Input("signal-coins", "value"),
        Input("signal-types", "value"),
        Input("signal-rules", "value"),
        Input("min-confidence", "value"),
        Input("signal-scope", "value"),
    )
    def signals(
        _: Any,
        coins: list[str] | None,
        types: list[str] | None,
        rules: list[str] | None,
        min_confidence: float | None,
        scope: str | None,
    ) -> list[dict[str, Any]]:
        chosen = figures.filter_signals(
            reader.market.signals, coins, types, rules, float(min_confidence or 0.0),
            actionable_only=scope != "all",
        )  # fmt: skip
        if types is not None and not types:
            chosen = []  # every type unticked: nothing, not everything
        return figures.signal_rows(chosen)

    @app.callback(
        Output("aggregates-table", "data"),
        Output("risk-table", "data"),
        Input("version", "data"),
    )
    def aggregates(_: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        market = reader.market
        return figures.aggregate_rows(market), figures.risk_rows(market)

    return app


def serve(
    reader: DashboardReader, host: str = "127.0.0.1", port: int = 8050, refresh: float = 5.0
) -> None:
    """Serve the dashboard until interrupted (werkzeug, threaded; request logs off)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(reader, refresh)
    app.run(host=host, port=port, debug=False)
