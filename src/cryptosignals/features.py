"""Model features: one implementation for the stream and for history (numpy only).

Every feature is computed from the engine's own streamed bar columns (`EngineResult.bars`), so
a backtest, the training side and the stream's process function build the same numbers with the
same code. A row is known at its bar's close (`end`): nothing in it reads a later bar.

| name | what |
| --- | --- |
| `ret_1`, `ret_3`, `ret_12` | log return of the close over the last 1, 3, 12 bars (5m, 15m, 1h) |
| `rsi` | RSI(14) |
| `adx` | ADX(14) |
| `bb_pct_b` | %b: (close - lower band) / (upper - lower), Bollinger(20, 2) |
| `bb_width` | (upper - lower) / middle band |
| `atr_pct` | ATR(14) as % of the close |
| `volume_ratio` | the bar's volume over its 24 h average before it |
| `slope_pct` | linear-regression slope(14) as % of the close |
| `macd_hist_pct` | MACD histogram as % of the close |
| `trend` | the 1 h trend's sign (fast vs slow average on 1 h bars) |
| `sigma_1h` | the 1 h volatility forecast (NaN without a fitted model) |
| `regime_rank` | the volatility regime's rank (NaN without a fitted model) |
| `hour_sin`, `hour_cos` | hour of day (UTC) of the bar's close on the circle |
| `weekday_sin`, `weekday_cos` | day of week on the circle |
| `btc_ret_12` | bitcoin's log return over the last hour, for other coins (NaN when not given) |

The returns need earlier closes: `FeatureBuilder` keeps the last few as its state
(`to_json`/`from_json`), so features built chunk by chunk equal those built at once.
Unknown values are NaN (the first bars' returns, indicators still warming up).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The lags (in 5-minute bars) of the return features.
RETURN_LAGS = (1, 3, 12)
#: The model features, in column order.
FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_{lag}" for lag in RETURN_LAGS),
    "rsi", "adx", "bb_pct_b", "bb_width", "atr_pct", "volume_ratio", "slope_pct",
    "macd_hist_pct", "trend", "sigma_1h", "regime_rank",
    "hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "btc_ret_12",
)  # fmt: skip
#: The engine's bar columns the features read.
BAR_COLUMNS = (
    "end", "close", "rsi_14", "adx_14", "bb_upper_20", "bb_lower_20", "bb_width", "atr_pct_14",
    "volume_ratio", "slope_14", "macd_hist", "trend",
)  # fmt: skip
_DAY, _WEEK = 86_400, 7 * 86_400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def _optional(bars: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    value = bars.get(name)
    return np.full(n, np.nan) if value is None else np.asarray(value, dtype=float)


class FeatureBuilder:
    """Builds feature rows from the engine's bars, batch after batch; the state is the last
    closes the returns need."""

    def __init__(self, closes: list[float] | None = None) -> None:
        depth = max(RETURN_LAGS)
        self.closes: list[float] = [math.nan] * (depth - len(closes or [])) + list(closes or [])
        self.closes = self.closes[-depth:]

    def update(
        self, bars: dict[str, np.ndarray], btc_return: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows (n bars x len(FEATURE_NAMES)) for the bars of one feed; `btc_return` is
        bitcoin's last-hour log return aligned to the same bars (`returns_as_of`)."""
        missing = [c for c in BAR_COLUMNS if c not in bars]
        n = len(bars.get("end", ()))
        if n == 0:
            return np.empty((0, len(FEATURE_NAMES)))
        if missing:
            raise ValueError(f"the bars lack the feature columns {', '.join(missing)}")
        close = np.asarray(bars["close"], dtype=float)
        end = np.asarray(bars["end"], dtype=float)
        history = np.concatenate([np.asarray(self.closes, dtype=float), close])
        log_close = np.log(history)
        depth = len(self.closes)
        columns: list[np.ndarray] = [
            log_close[depth:] - log_close[depth - lag : depth - lag + n] for lag in RETURN_LAGS
        ]
        upper, lower = bars["bb_upper_20"], bars["bb_lower_20"]
        span = upper - lower
        with np.errstate(divide="ignore", invalid="ignore"):
            pct_b = np.where(span > 0, (close - lower) / span, np.nan)
            columns += [
                np.asarray(bars["rsi_14"], float), np.asarray(bars["adx_14"], float), pct_b,
                np.asarray(bars["bb_width"], float), np.asarray(bars["atr_pct_14"], float),
                np.asarray(bars["volume_ratio"], float), bars["slope_14"] / close * 100.0,
                bars["macd_hist"] / close * 100.0, np.asarray(bars["trend"], float),
                _optional(bars, "sigma_1h", n), _optional(bars, "regime_rank", n),
            ]  # fmt: skip
        hour = 2 * np.pi * (end % _DAY) / _DAY
        weekday = 2 * np.pi * ((end // _DAY + _EPOCH_WEEKDAY) % 7) / 7
        columns += [np.sin(hour), np.cos(hour), np.sin(weekday), np.cos(weekday)]
        if btc_return is None:
            columns.append(np.full(n, np.nan))
        else:
            btc = np.asarray(btc_return, dtype=float)
            if btc.shape != (n,):
                raise ValueError(f"btc_return has {btc.shape} values for {n} bars")
            columns.append(btc)
        self.closes = list(history[-depth:])
        return np.column_stack(columns)

    def to_json(self) -> dict[str, Any]:
        return {"closes": [None if math.isnan(c) else float(c) for c in self.closes]}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> FeatureBuilder:
        return cls([math.nan if c is None else float(c) for c in state.get("closes", [])])


def model_features(bars: dict[str, np.ndarray], btc_return: np.ndarray | None = None) -> np.ndarray:
    """The feature rows of a whole series of bars (a fresh builder)."""
    return FeatureBuilder().update(bars, btc_return)


def returns_as_of(
    end: np.ndarray, other_end: np.ndarray, other_close: np.ndarray, seconds: int = 3600
) -> np.ndarray:
    """Another series' log return over the `seconds` before each time in `end`, from its bars
    closed by then (its last close at or before t against its last close at or before
    t - seconds); NaN where either is unknown. Bitcoin's last hour for another coin's bars."""
    end = np.asarray(end, dtype=float)
    keys = np.asarray(other_end, dtype=float)
    log_close = np.log(np.asarray(other_close, dtype=float))
    padded = np.concatenate([[np.nan], log_close])
    now = padded[np.searchsorted(keys, end, side="right")]
    before = padded[np.searchsorted(keys, end - seconds, side="right")]
    # a close older than one bar before the time is stale: unknown rather than wrong
    stale_now = np.concatenate([[-np.inf], keys])[np.searchsorted(keys, end, side="right")]
    ok = end - stale_now <= 300
    return np.where(ok, now - before, np.nan)
