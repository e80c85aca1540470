"""Market context: is bitcoin driving this coin's move (question 17), and are many coins moving
together right now (question 18)?

The stream's part (numpy and the standard library only: the process Lambda runs it; the
clusters for reports live in `cryptosignals.models.market`, with scipy). Both trackers take the
engine's closed 5-minute bars (close time `end`, unix seconds, and `close`), are resumable
(`to_json()` is the whole state, `Tracker(..., state=...)` resumes), give the same output on any
chunking of a series as on the whole of it, and never look ahead: a value at bar t uses bars at
or before t only.

`BetaTracker` (one per coin, bitcoin's closes beside the coin's, aligned by bar end time):

- the 5-minute log returns of the coin (y) and of bitcoin (x); a return counts only when both
  coins have a bar at its end and at the bar before (a bar missing on either side is skipped,
  never invented);
- exponentially weighted (half-life `halflife` counted returns) means, variances and covariance,
  from which `beta` = cov(x, y) / var(x) (the slope of the weighted least-squares regression of
  y on x with an intercept) and `corr` = cov / (sd x sd y). Exponential weights rather than a
  rolling window: the state is six sums instead of a window of returns, and a shock fades out
  gradually instead of leaving the window with a jump a day later;
- over the last `window_bars` bars (an hour by default), the coin's log move `coin_move`,
  bitcoin's `btc_move`, the part bitcoin explains `beta * btc_move`, the rest `own_move`, and
  `explained_share` = beta x btc_move / coin_move clipped to [0, 1] (0 when bitcoin's part has the
  other sign; NaN when the coin did not move or a bar at either end of the window is missing);
- `btc_driven`: explained_share >= `min_share` (0.5: most of the move) and corr >= `min_corr`
  (0.5: the beta describes the coin's returns, not noise).

`MarketTracker` (one for all tracked coins; its state is one small JSON item):

- bars of many coins, in any batches, grouped by close time; a time is settled once every coin
  has a bar there, or once a bar `wait_bars` bars later has arrived (coins whose ticks close a
  bar in the next batch are waited for; a bar arriving after its time is settled is dropped and
  counted as `late`);
- `breadth_ma`: the share of coins whose log close is above its exponential moving average
  (`ma_bars`), among coins with `ma_bars` bars since their last gap;
- `breadth_up`: the share of coins up over the last `window_bars` bars (`market_move`: the
  median of those moves);
- `pc1_share`: the share of variance of the first principal component of the coins' returns,
  the largest eigenvalue of their correlation matrix over the number of coins (1/n when the coins
  are independent, 1 when one factor moves them all; correlations rather than covariances, so a
  volatile coin does not make the component its own), from exponentially weighted second moments
  (half-life `halflife` bars; 5-minute returns have a mean indistinguishable from 0, so moments
  about 0). Only bars where every coin has a return update it; `mean_corr` is the mean pairwise
  correlation of the same matrix;
- `alert`: a market-wide event: "breadth_up" when breadth_up reaches >= `breadth_high` (80 %) at a
  bar while it was <= `breadth_low` (20 %) at some bar of the previous `window_bars`,
  "breadth_down" the mirror, "pc1_jump" when pc1_share is >= `pc1_jump` (0.2) above its lowest
  value over the previous `window_bars`; breadth alerts need `min_coins` coins with a move and a
  large market move: |market_move| >= `move_sigmas` (2) x the root mean square of market_move
  over about the last day (exponential weights, half-life `scale_halflife` = 288 bars, up to the
  bar before; without this, in a market whose coins move as one, breadth swings from 20 % to
  80 % whenever the market's hourly move changes sign, about 14 times a day), and
  after an alert none fires for `window_bars` bars.

`MarketSignals` (one for all tracked coins, beside the `MarketTracker`): the market alerts as
signals with a track record, like every coin's ALERT. The market is a pseudo-coin "market", an
equal-weighted index of the tracked coins made of the tracker's settled closes (the mean of the
coins' 5-minute log returns among those with a return at the bar, cumulated from 100); each
alert becomes an ALERT of rule "market_<kind>", priced at the index, judged by
`evidence.TrackRecords` on the index: its claim, as for any ALERT, is a bigger move than usual
over the horizon (1 h).

So that the state stays small (about 1 KB zlib-compressed for 20 coins: docs/market.md), the
tracker keeps its numbers as integers on fixed grids, and runs on the rounded values at every bar
(so a resumed tracker equals one that never stopped): returns in 0.1 bp, second moments in
0.01 bp^2, shares in 1e-4.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cryptosignals.evidence import EvidenceConfig, TrackRecords
from cryptosignals.model import Signal, SignalType

BAR_SECONDS = 300
_STATE_VERSION = 1
_R = 1e5  # returns kept in units of 0.1 bp
_M = 1e10  # second moments kept in units of 0.01 bp^2 (1e-10 in return units)
_S = 1e4  # shares kept in units of 1e-4


def _decay(halflife: float) -> float:
    if not halflife > 0:
        raise ValueError(f"half-life must be positive, got {halflife}")
    return 0.5 ** (1.0 / halflife)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _check_ends(end: Any, last_end: int | None) -> np.ndarray:
    e = np.atleast_1d(np.asarray(end)).astype(np.int64)
    if len(e) and ((np.diff(e) <= 0).any() or (last_end is not None and e[0] <= last_end)):
        raise ValueError("bar close times must increase, after the last one seen")
    return e


#: The columns `BetaTracker.update` returns, one value per bar.
BETA_COLUMNS = ("end", "beta", "corr", "coin_move", "btc_move", "own_move", "explained_share",
                "btc_driven")  # fmt: skip


class BetaTracker:
    """Bitcoin's influence on one coin, bar by bar (see the module docstring), resumable.

    `update(end, coin_close, btc_close)` takes the next bars (close times after the last one
    seen; NaN for a coin without a bar at that time) and returns the `BETA_COLUMNS` as arrays;
    `to_json()` is the state to resume from (`BetaTracker(halflife, ..., state=...)`).
    beta and corr are NaN until `min_obs` returns have been counted.
    """

    def __init__(
        self,
        halflife: float = 288.0,
        state: Mapping[str, Any] | None = None,
        *,
        window_bars: int = 12,
        min_obs: int = 72,
        min_share: float = 0.5,
        min_corr: float = 0.5,
    ) -> None:
        self.halflife, self.decay = halflife, _decay(halflife)
        self.window_bars, self.min_obs = window_bars, min_obs
        self.min_share, self.min_corr = min_share, min_corr
        self._last_end: int | None = None
        self._last = (math.nan, math.nan)
        self._sums = [0.0] * 6  # weight, x, y, xx, xy, yy
        self._n = 0
        self._recent: list[tuple[int, float, float]] = []
        if state is not None:
            if state.get("version") != _STATE_VERSION:
                raise ValueError(f"beta tracker state: version must be {_STATE_VERSION}")
            try:
                self._last_end = state["last_end"]
                self._last = (_float(state["last"][0]), _float(state["last"][1]))
                self._sums = [float(v) for v in state["sums"]]
                self._n = int(state["n"])
                self._recent = [(int(e), float(c), float(b)) for e, c, b in state["recent"]]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise ValueError(f"beta tracker state: malformed ({exc})") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "last_end": self._last_end,
            "last": [_json_float(v) for v in self._last],
            "sums": self._sums,
            "n": self._n,
            "recent": [list(r) for r in self._recent],
        }

    def beta_corr(self) -> tuple[float, float]:
        """The current beta and correlation (NaN before `min_obs` returns)."""
        w, sx, sy, sxx, sxy, syy = self._sums
        if self._n < self.min_obs or w <= 0:
            return math.nan, math.nan
        mx, my = sx / w, sy / w
        vx, vy, cxy = sxx / w - mx * mx, syy / w - my * my, sxy / w - mx * my
        if vx <= 0 or vy <= 0:
            return math.nan, math.nan
        return cxy / vx, cxy / math.sqrt(vx * vy)

    def update(self, end: Any, coin_close: Any, btc_close: Any) -> dict[str, np.ndarray]:
        e = _check_ends(end, self._last_end)
        c = np.atleast_1d(np.asarray(coin_close, dtype=float))
        b = np.atleast_1d(np.asarray(btc_close, dtype=float))
        if not len(e) == len(c) == len(b):
            raise ValueError("end, coin_close and btc_close must have the same length")
        n = len(e)
        out = {name: np.full(n, np.nan) for name in BETA_COLUMNS[1:-1]}
        driven = np.zeros(n, dtype=bool)
        decay, span = self.decay, self.window_bars * BAR_SECONDS
        s = self._sums
        for i in range(n):
            t, ci, bi = int(e[i]), float(c[i]), float(b[i])
            ok = ci > 0 and bi > 0 and math.isfinite(ci) and math.isfinite(bi)
            lc, lb = self._last
            if ok and self._last_end == t - BAR_SECONDS and lc == lc and lb == lb:
                x, y = math.log(bi / lb), math.log(ci / lc)
                s[0] = decay * s[0] + 1.0
                s[1] = decay * s[1] + x
                s[2] = decay * s[2] + y
                s[3] = decay * s[3] + x * x
                s[4] = decay * s[4] + x * y
                s[5] = decay * s[5] + y * y
                self._n += 1
            self._last_end = t
            self._last = (ci, bi) if ok else (math.nan, math.nan)
            if not ok:
                continue
            recent = [r for r in self._recent if r[0] >= t - span]
            recent.append((t, ci, bi))
            self._recent = recent
            beta, corr = self.beta_corr()
            out["beta"][i], out["corr"][i] = beta, corr
            if recent[0][0] != t - span:
                continue
            coin_move, btc_move = math.log(ci / recent[0][1]), math.log(bi / recent[0][2])
            out["coin_move"][i], out["btc_move"][i] = coin_move, btc_move
            if beta == beta:
                explained = beta * btc_move
                out["own_move"][i] = coin_move - explained
                if coin_move != 0:
                    share = min(max(explained / coin_move, 0.0), 1.0)
                    out["explained_share"][i] = share
                    driven[i] = share >= self.min_share and corr >= self.min_corr
        return {"end": e, **out, "btc_driven": driven}


#: The columns `MarketTracker.update` returns, one value per settled bar time.
MARKET_COLUMNS = ("end", "n_coins", "breadth_ma", "breadth_up", "market_move", "pc1_share",
                  "mean_corr", "alert")  # fmt: skip
ALERT_KINDS = ("breadth_up", "breadth_down", "pc1_jump")


class MarketTracker:
    """Co-movement of the tracked coins, bar by bar (see the module docstring), resumable.

    `update(bars)` takes each coin's new bars as `{coin: (end, close)}` (coins not tracked are
    ignored) and returns the `MARKET_COLUMNS` of the bar times it settled, as arrays (`alert`:
    "" or one of `ALERT_KINDS`), plus `closes`: the settled closes (time x coin in `coins`
    order, NaN where a coin had no bar), aligned and waited for, to feed each coin's
    `BetaTracker` with bitcoin's close at the same time; `flush()` settles every pending time
    (the end of a file); `latest()` is the last settled row; `to_json()` the state (one small
    JSON document).
    """

    def __init__(
        self,
        coins: Sequence[str],
        halflife: float = 24.0,
        state: Mapping[str, Any] | None = None,
        *,
        ma_bars: int = 48,
        window_bars: int = 12,
        wait_bars: int = 2,
        min_obs: int | None = None,
        min_coins: int = 5,
        breadth_low: float = 0.2,
        breadth_high: float = 0.8,
        pc1_jump: float = 0.2,
        move_sigmas: float = 2.0,
        scale_halflife: float = 288.0,
    ) -> None:
        if len(set(coins)) != len(coins) or len(coins) < 2:
            raise ValueError("a market tracker needs at least two distinct coins")
        self.coins = tuple(coins)
        self._index = {coin: i for i, coin in enumerate(self.coins)}
        self.halflife, self.decay = halflife, _decay(halflife)
        self.alpha = 2.0 / (ma_bars + 1)
        self.ma_bars, self.window_bars, self.wait_bars = ma_bars, window_bars, wait_bars
        self.min_obs = math.ceil(2 * halflife) if min_obs is None else min_obs
        self.min_coins, self.pc1_jump = min_coins, pc1_jump
        self.move_sigmas, self.scale_decay = move_sigmas, _decay(scale_halflife)
        self.scale_bars = math.ceil(scale_halflife)
        self.breadth_low, self.breadth_high = breadth_low, breadth_high
        k = len(coins)
        self._upper = np.triu_indices(k)
        self._last_end: int | None = None
        self._newest: int | None = None
        self._pending: dict[int, dict[str, float]] = {}
        self._close = np.full(k, np.nan)
        self._m2 = np.zeros((k, k), dtype=np.int64)
        self._complete = 0
        # the last window_bars bars' returns (0.1 bp) and whether each is known
        self._ring = np.zeros((0, k), dtype=np.int64)
        self._known = np.zeros((0, k), dtype=bool)
        self._dev = np.zeros(k, dtype=np.int64)  # log close - its EMA, 0.1 bp
        self._seen = np.zeros(k, dtype=np.int64)  # bars since the coin's last gap (capped)
        self._history: list[tuple[int | None, int | None]] = []  # (breadth_up, pc1) x 1e4
        self._cooldown = 0
        self._move2 = 0  # EW mean of market_move^2, 0.01 bp^2
        self._move_n = 0  # market moves seen (capped at scale_bars)
        self._late = 0
        self._row: dict[str, Any] | None = None
        if state is not None:
            self._load(state)

    def _load(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"market tracker state: version must be {_STATE_VERSION}")
        if tuple(state.get("coins", ())) != self.coins:
            # another set of coins: the co-movement starts afresh (it warms up in hours)
            return
        try:
            k = len(self.coins)
            self._last_end, self._newest = state["last_end"], state["newest"]
            self._pending = {int(t): dict(v) for t, v in state["pending"].items()}
            self._close = np.array([_float(v) for v in state["close"]])
            m2 = np.zeros((k, k), dtype=np.int64)
            m2[self._upper] = state["m2"]
            self._m2 = m2 + np.triu(m2, 1).T
            self._complete = int(state["complete"])
            ring = [[0 if v is None else v for v in row] for row in state["ring"]]
            self._ring = np.array(ring, dtype=np.int64).reshape(-1, k)
            self._known = np.array([[v is not None for v in row] for row in state["ring"]],
                                   dtype=bool).reshape(-1, k)  # fmt: skip
            self._dev = np.array(state["dev"], dtype=np.int64)
            self._seen = np.array(state["seen"], dtype=np.int64)
            self._history = [(h[0], h[1]) for h in state["history"]]
            self._cooldown, self._late = int(state["cooldown"]), int(state["late"])
            self._move2, self._move_n = int(state["move2"]), int(state["move_n"])
            self._row = state["row"]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"market tracker state: malformed ({exc})") from None
        if self._close.shape != (k,) or self._dev.shape != (k,) or self._seen.shape != (k,):
            raise ValueError("market tracker state: per-coin arrays do not match its coins")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "coins": list(self.coins),
            "last_end": self._last_end,
            "newest": self._newest,
            "pending": {str(t): v for t, v in sorted(self._pending.items())},
            "close": [_json_float(float(v)) for v in self._close],
            "m2": self._m2[self._upper].tolist(),
            "complete": self._complete,
            "ring": [
                [int(v) if h else None for v, h in zip(row, known, strict=True)]
                for row, known in zip(self._ring.tolist(), self._known.tolist(), strict=True)
            ],
            "dev": self._dev.tolist(),
            "seen": self._seen.tolist(),
            "history": [list(h) for h in self._history],
            "cooldown": self._cooldown,
            "move2": self._move2,
            "move_n": self._move_n,
            "late": self._late,
            "row": self._row,
        }

    @property
    def late(self) -> int:
        """Bars dropped because they arrived after their time was settled."""
        return self._late

    def latest(self) -> dict[str, Any] | None:
        """The last settled bar time's row (JSON types; None before the first)."""
        return None if self._row is None else dict(self._row)

    def update(self, bars: Mapping[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
        for coin, (end, close) in bars.items():
            if coin not in self._index:
                continue
            e = np.atleast_1d(np.asarray(end)).astype(np.int64)
            c = np.atleast_1d(np.asarray(close, dtype=float))
            if len(e) != len(c):
                raise ValueError(f"{coin}: end and close must have the same length")
            for t, price in zip(e.tolist(), c.tolist(), strict=True):
                if self._last_end is not None and t <= self._last_end:
                    self._late += 1
                    continue
                self._pending.setdefault(t, {})[coin] = price
                self._newest = t if self._newest is None else max(self._newest, t)
        return self._settle(flush=False)

    def flush(self) -> dict[str, np.ndarray]:
        """Settle every pending bar time (no more bars will come for them)."""
        return self._settle(flush=True)

    def _settle(self, flush: bool) -> dict[str, np.ndarray]:
        rows = []
        k = len(self.coins)
        for t in sorted(self._pending):
            assert self._newest is not None
            ready = len(self._pending[t]) == k or self._newest >= t + self.wait_bars * BAR_SECONDS
            if not (ready or flush):
                break
            rows.append(self._step(t, self._pending.pop(t)))
        out: dict[str, np.ndarray] = {
            name: np.array([r[name] for r in rows], dtype=float) for name in MARKET_COLUMNS[2:-1]
        }
        out["end"] = np.array([r["end"] for r in rows], dtype=np.int64)
        out["n_coins"] = np.array([r["n_coins"] for r in rows], dtype=np.int64)
        out["alert"] = np.array([r["alert"] for r in rows], dtype=object)
        closes = np.array([r["closes"] for r in rows], dtype=float).reshape(len(rows), k)
        return {**{name: out[name] for name in MARKET_COLUMNS}, "closes": closes}

    def _step(self, t: int, closes: dict[str, float]) -> dict[str, Any]:
        k, w = len(self.coins), self.window_bars
        x = np.full(k, np.nan)
        for coin, price in closes.items():
            if price > 0 and math.isfinite(price):
                x[self._index[coin]] = price
        gap = 1 if self._last_end is None else (t - self._last_end) // BAR_SECONDS
        if gap == 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.log(x / self._close)
        else:
            r = np.full(k, np.nan)
        has = np.isfinite(r)
        q = np.where(has, np.rint(np.where(has, r, 0.0) * _R), 0).astype(np.int64)
        # returns of the last window: bars skipped over are missing
        skipped = min(max(gap - 1, 0), w)
        self._ring = np.vstack([self._ring, np.zeros((skipped, k), np.int64), q[None]])[-w:]
        self._known = np.vstack([self._known, np.zeros((skipped, k), bool), has[None]])[-w:]
        # second moments, on bars where every coin has a return
        if has.all():
            rb = q / 10.0  # bp
            m2 = self.decay * (self._m2 / 100.0) + (1 - self.decay) * np.outer(rb, rb)
            self._m2 = np.rint(m2 * 100.0).astype(np.int64)
            self._complete += 1
        # distance to the moving average (reset at a gap)
        present = np.isfinite(x)
        dev = np.rint((1 - self.alpha) * (self._dev + q)).astype(np.int64)
        self._dev = np.where(has, dev, 0)
        self._seen = np.where(has, np.minimum(self._seen + 1, self.ma_bars), 0)
        self._close = x
        self._last_end = t
        # the row
        ma_ok = self._seen >= self.ma_bars
        breadth_ma = float(np.mean(self._dev[ma_ok] > 0)) if ma_ok.any() else math.nan
        full = self._known.all(axis=0) if len(self._ring) == w else np.zeros(k, bool)
        moves = self._ring.sum(axis=0)[full] / _R
        breadth_up = float(np.mean(moves > 0)) if len(moves) else math.nan
        market_move = float(np.median(moves)) if len(moves) else math.nan
        pc1, mean_corr = self._pc1()
        alert = self._alert(breadth_up, pc1, len(moves), market_move)
        if not math.isnan(market_move):
            move2 = (market_move * 1e4) ** 2 * 100.0  # 0.01 bp^2
            if self._move_n == 0:
                self._move2 = round(move2)
            else:
                d = self.scale_decay
                self._move2 = round(d * self._move2 + (1 - d) * move2)
            self._move_n = min(self._move_n + 1, self.scale_bars)
        b_int = None if math.isnan(breadth_up) else round(breadth_up * _S)
        self._history.append((b_int, None if math.isnan(pc1) else round(pc1 * _S)))
        self._history = self._history[-(w + 1) :]
        row = {
            "end": t, "n_coins": int(present.sum()), "breadth_ma": breadth_ma,
            "breadth_up": breadth_up, "market_move": market_move, "pc1_share": pc1,
            "mean_corr": mean_corr, "alert": alert, "closes": x,
        }  # fmt: skip
        self._row = {key: (_json_float(v) if isinstance(v, float) else v)
                     for key, v in row.items() if key != "closes"}  # fmt: skip
        return row

    def _pc1(self) -> tuple[float, float]:
        if self._complete < self.min_obs:
            return math.nan, math.nan
        d = np.sqrt(np.diag(self._m2).astype(float))
        if not (d > 0).all():
            return math.nan, math.nan
        corr = self._m2 / np.outer(d, d)
        k = len(d)
        top = float(np.linalg.eigvalsh(corr)[-1])
        pc1 = round(top / k * _S) / _S
        mean_corr = (float(corr.sum()) - k) / (k * (k - 1))
        return pc1, mean_corr

    def _alert(self, breadth_up: float, pc1: float, n_moves: int, market_move: float) -> str:
        """The market-wide event at this bar, from the previous `window_bars` bars' values."""
        if self._cooldown > 0:
            self._cooldown -= 1
            return ""
        previous = self._history[-self.window_bars :]
        alert = ""
        past_b = [h[0] / _S for h in previous if h[0] is not None]
        past_p = [h[1] / _S for h in previous if h[1] is not None]
        scale = math.sqrt(self._move2 / 100.0) / 1e4  # log-return units
        large = (
            self._move_n >= self.scale_bars
            and not math.isnan(market_move)
            and abs(market_move) >= self.move_sigmas * scale
        )
        if large and n_moves >= self.min_coins and past_b and not math.isnan(breadth_up):
            if breadth_up >= self.breadth_high and min(past_b) <= self.breadth_low:
                alert = "breadth_up"
            elif breadth_up <= self.breadth_low and max(past_b) >= self.breadth_high:
                alert = "breadth_down"
        if not alert and past_p and not math.isnan(pc1) and pc1 - min(past_p) >= self.pc1_jump:
            alert = "pc1_jump"
        if alert:
            self._cooldown = self.window_bars
        return alert


def align_closes(
    bars: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The union of the coins' bar close times and a (time x coin) matrix of closes, NaN where a
    coin has no bar (nothing filled in)."""
    ends = np.unique(np.concatenate([np.asarray(e, dtype=np.int64) for e, _ in bars.values()]))
    closes = np.full((len(ends), len(bars)), np.nan)
    for j, (e, c) in enumerate(bars.values()):
        closes[np.searchsorted(ends, np.asarray(e, dtype=np.int64)), j] = c
    return ends, closes


def bar_returns(ends: np.ndarray, closes: np.ndarray) -> np.ndarray:
    """5-minute log returns of aligned closes (row t: from the bar before to bar t), NaN where
    either bar is missing or the bars are not one interval apart (row 0 is NaN)."""
    r = np.full(closes.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.log(closes[1:] / closes[:-1])
    adjacent = (np.diff(ends) == BAR_SECONDS)[:, None]
    r[1:] = np.where(adjacent, step, np.nan)
    return r


#: The pseudo-coin of the market's signals: an equal-weighted index of the tracked coins.
MARKET_ID = "market"
INDEX_BASE = 100.0
_DETAIL_COLUMNS = ("n_coins", "breadth_up", "breadth_ma", "market_move", "pc1_share", "mean_corr")


class MarketSignals:
    """The market alerts as signals with a track record, bar by bar, resumable.

    `update(settled)` takes what `MarketTracker.update` (or `flush`) returned, the settled bar
    times' `end`, `closes` (time x coin in `coins` order) and `alert` (plus, optionally, the
    other `MARKET_COLUMNS`, copied into each signal's details), and returns the market alerts of
    those times as `Signal`s of the pseudo-coin "market": signal type ALERT, rule
    "market_<kind>", timeframe "1h", price the index at the alert's bar, with the evidence of
    its rule's track record (`evidence.TrackRecords`: the claim of every ALERT, a bigger move
    than usual over the horizon, judged on the index).

    The index: the mean of the coins' 5-minute log returns among the coins with a return at
    that bar (a close there and one bar before), cumulated from `INDEX_BASE`; at a bar where no
    coin has a return it does not move. It is made of the settled closes only, so it sees what
    the tracker saw, never a later bar. `index` holds the last update's (end, index) arrays;
    bar times at or before the last one seen are ignored (a redelivered batch changes nothing).
    `to_json()` is the state (`MarketSignals(coins, state=...)` resumes); the track records
    count as a family of `len(ALERT_KINDS)` tests times `config.coins` (default 1).
    """

    def __init__(
        self,
        coins: Sequence[str],
        config: EvidenceConfig | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> None:
        if len(set(coins)) != len(coins) or len(coins) < 2:
            raise ValueError("market signals need at least two distinct coins")
        self.coins = tuple(coins)
        self.config = EvidenceConfig(coins=1) if config is None else config
        self._last_end: int | None = None
        self._close = np.full(len(self.coins), np.nan)
        self._log_level = 0.0
        track: dict[str, Any] | None = None
        if state is not None:
            if state.get("version") != _STATE_VERSION:
                raise ValueError(f"market signals state: version must be {_STATE_VERSION}")
            try:
                self._last_end = state["last_end"]
                self._log_level = float(state["log_level"])
                if tuple(state["coins"]) == self.coins:  # else the returns start afresh
                    self._close = np.array([_float(v) for v in state["close"]], dtype=float)
                track = dict(state["track"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"market signals state: malformed ({exc})") from None
            if self._close.shape != (len(self.coins),):
                raise ValueError("market signals state: closes do not match its coins")
        self.track = TrackRecords(self.config, len(ALERT_KINDS), track)
        self.index: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "coins": list(self.coins),
            "last_end": self._last_end,
            "close": [_json_float(float(v)) for v in self._close],
            "log_level": self._log_level,
            "track": self.track.to_json(),
        }

    def update(self, settled: Mapping[str, Any]) -> list[Signal]:
        end = np.atleast_1d(np.asarray(settled["end"])).astype(np.int64)
        closes = np.asarray(settled["closes"], dtype=float).reshape(len(end), len(self.coins))
        alert = np.atleast_1d(np.asarray(settled.get("alert", [""] * len(end)), dtype=object))
        if len(alert) != len(end):
            raise ValueError("settled: end, closes and alert must have the same length")
        new = np.flatnonzero(end > (-1 if self._last_end is None else self._last_end))
        if len(new) and (np.diff(end[new]) <= 0).any():
            raise ValueError("settled bar times must increase")
        price = np.empty(len(new))
        signals = []
        for n, i in enumerate(new.tolist()):
            t, x = int(end[i]), closes[i]
            if self._last_end == t - BAR_SECONDS:
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = np.log(x / self._close)
                r = r[np.isfinite(r)]
                if len(r):
                    self._log_level += float(r.mean())
            self._close = np.where(x > 0, x, np.nan)
            self._last_end = t
            price[n] = INDEX_BASE * math.exp(self._log_level)
            if alert[i]:
                details = {"index": float(price[n])}
                for name in _DETAIL_COLUMNS:
                    if name in settled and math.isfinite(float(settled[name][i])):
                        details[name] = round(float(settled[name][i]), 6)
                kind, at = f"market_{alert[i]}", float(price[n])
                signals.append(Signal(MARKET_ID, t, SignalType.ALERT, kind, "1h", at, 0.5, details))
        ends = end[new]
        self.index = (ends, price)
        return self.track.annotate((ends, price), (ends, price), BAR_SECONDS, signals)
