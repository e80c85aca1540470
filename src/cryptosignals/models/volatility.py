"""Fitting the volatility forecast (cryptosignals.risk) on history, and judging it walk-forward.

`fit_volatility` estimates, from one training window of 5-minute closes: the hour-of-week
seasonal factor of |returns| (hour of day x day of week, which 30 days can estimate; a free
168-cell profile cannot), GARCH(1,1) with Student-t innovations (or EWMA) on the deseasonalised
returns with `arch`, and the tail multipliers of each method. `walk_forward` refits on trailing
history only and forecasts the following days with the stream's own recursion, beside the two
baselines a risk desk would start from: normal VaR from the last window's standard deviation,
and historical simulation (the last window's empirical quantile). Training side: imports arch
and scipy, never imported by the stream.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cryptosignals.errors import BadInputError
from cryptosignals.profile import hour_of_week
from cryptosignals.risk import (
    BAR_SECONDS,
    HORIZONS,
    MEASURES,
    TAIL_METHODS,
    RiskForecaster,
    VolatilityModel,
)

DAY = 86_400
BASELINES = ("normal", "historical")
_SCALE = 1e4  # arch fits best on returns of order 1-1000: basis points


def _libraries() -> tuple[Any, Any]:
    try:
        from arch import univariate
        from scipy import stats
    except ImportError:  # pragma: no cover - depends on the install
        raise BadInputError(
            "fitting volatility models needs arch and scipy: pip install 'cryptosignals[models]'"
        ) from None
    return univariate, stats


def _returns(end: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log returns between consecutive bars, each dated by the close of its later bar."""
    return np.asarray(end[1:], dtype=np.int64), np.diff(np.log(np.asarray(close, float)))


def seasonal_factors(end: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Hour-of-week factors of |return| (mean 1 over the week): hour-of-day x day-of-week."""
    hours = hour_of_week(np.asarray(end, dtype=np.int64) - BAR_SECONDS)
    size = np.abs(returns)
    overall = size.mean()
    by_hour = np.array([size[hours % 24 == h].mean() for h in range(24)]) / overall
    by_day = np.array([size[hours // 24 == d].mean() for d in range(7)]) / overall
    grid = np.outer(np.nan_to_num(by_day, nan=1.0), np.nan_to_num(by_hour, nan=1.0)).ravel()
    grid = np.maximum(grid, 0.05)
    return grid / grid.mean()


def realised_losses(end: np.ndarray, close: np.ndarray, horizon: str) -> np.ndarray:
    """Per bar, the realised loss (-log return) over the horizon after its close: to the first
    bar at or after end + horizon; NaN where the data ends first."""
    end = np.asarray(end, dtype=np.int64)
    exit_index = np.searchsorted(end, end + HORIZONS[horizon], side="left")
    known = exit_index < len(end)
    loss = np.full(len(end), np.nan)
    log_close = np.log(np.asarray(close, float))
    loss[known] = log_close[np.flatnonzero(known)] - log_close[exit_index[known]]
    return loss


def _tails(z: np.ndarray, nu: float, stats: Any) -> dict[str, tuple[float, ...]]:
    """Multipliers of sigma for each of `MEASURES` by each method, from standardised
    losses z = loss / forecast sigma (for Cornish-Fisher and filtered historical simulation)."""
    z = z[np.isfinite(z)]
    out: dict[str, tuple[float, ...]] = {}
    scale = math.sqrt((nu - 2) / nu) if math.isfinite(nu) and nu > 2 else 1.0
    t = stats.t(nu) if math.isfinite(nu) else stats.norm()

    def t_es(level: float) -> float:
        q = t.ppf(level)
        if not math.isfinite(nu):
            return float(stats.norm.pdf(q) / (1 - level))
        return float(t.pdf(q) / (1 - level) * (nu + q * q) / (nu - 1))

    out["student_t"] = tuple(  # type: ignore[assignment]
        scale * (t_es(level) if name.startswith("es") else float(t.ppf(level)))
        for name, level in MEASURES
    )
    skew, kurt = float(stats.skew(z)), float(stats.kurtosis(z))

    def cornish_fisher(level: Any) -> Any:
        q = stats.norm.ppf(level)
        return (q + (q**2 - 1) * skew / 6 + (q**3 - 3 * q) * kurt / 24
                - (2 * q**3 - 5 * q) * skew**2 / 36)  # fmt: skip

    def cf_es(level: float) -> float:  # the mean of the quantiles beyond the level
        grid = level + (1 - level) * (np.arange(200) + 0.5) / 200
        return float(cornish_fisher(grid).mean())

    mean, sd = float(z.mean()), float(z.std())
    out["cornish_fisher"] = tuple(  # type: ignore[assignment]
        mean + sd * (cf_es(level) if name.startswith("es") else float(cornish_fisher(level)))
        for name, level in MEASURES
    )

    def fhs(name: str, level: float) -> float:
        q = float(np.quantile(z, level))
        return float(z[z >= q].mean()) if name.startswith("es") else q

    out["fhs"] = tuple(fhs(name, level) for name, level in MEASURES)  # type: ignore[assignment]
    return out


def fit_volatility(
    end: np.ndarray, close: np.ndarray, kind: str = "ewma", default_method: str = "fhs"
) -> VolatilityModel:
    """Fit one coin's forecast on a window of 5-minute bar closes (at least a few days)."""
    univariate, stats = _libraries()
    end = np.asarray(end, dtype=np.int64)
    close = np.asarray(close, dtype=float)
    if len(end) < 3 * DAY // BAR_SECONDS:
        raise BadInputError(f"{len(end)} bars: fitting a volatility model needs at least 3 days")
    r_end, r = _returns(end, close)
    seasonal = seasonal_factors(r_end, r)
    scaled = r / seasonal[hour_of_week(r_end - BAR_SECONDS)] * _SCALE
    volatility = univariate.GARCH(1, 0, 1) if kind == "garch" else univariate.EWMAVariance(None)
    if kind not in ("garch", "ewma"):
        raise BadInputError(f"unknown volatility model {kind!r}: garch or ewma")
    model = univariate.ZeroMean(scaled, volatility=volatility, distribution=univariate.StudentsT())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the fit is judged out of sample
        fit = model.fit(disp="off", show_warning=False)
    params = fit.params
    if kind == "garch":
        omega, alpha, beta = (params["omega"], params["alpha[1]"], params["beta[1]"])
        omega /= _SCALE**2
    else:
        omega, alpha, beta = 0.0, 1.0 - params["lam"], params["lam"]
    nu = float(params["nu"])
    if alpha + beta > 1:  # an integrated fit at the boundary: keep it stationary-or-unit
        beta = 1.0 - alpha
    draft = VolatilityModel(
        omega=float(omega), alpha=float(alpha), beta=float(beta),
        initial_variance=float(np.var(scaled / _SCALE)), seasonal=tuple(seasonal.tolist()),
        tails={default_method: {h: (1.0,) * len(MEASURES) for h in HORIZONS}}, nu=nu, kind=kind,
        default_method=default_method,
    )  # fmt: skip
    forecast = RiskForecaster(draft).update(end, close)
    tails: dict[str, dict[str, tuple[float, ...]]] = {m: {} for m in TAIL_METHODS}
    for horizon in HORIZONS:
        z = realised_losses(end, close, horizon) / forecast.sigma[horizon]
        for method, values in _tails(z, nu, stats).items():
            tails[method][horizon] = values
    fitted = {
        "start": int(end[0]), "end": int(end[-1]), "bars": len(end),
        "log_likelihood": float(fit.loglikelihood), "scale": "deseasonalised log returns",
    }  # fmt: skip
    return VolatilityModel(
        omega=draft.omega, alpha=draft.alpha, beta=draft.beta,
        initial_variance=draft.initial_variance, seasonal=draft.seasonal, tails=tails, nu=nu,
        kind=kind, default_method=default_method, fitted=fitted,
    )  # fmt: skip


@dataclass
class WalkForward:
    """Out-of-sample forecasts of every bar after the first training window.

    `var[method][horizon]` is an (n, len(MEASURES)) array, a column per measure; methods are
    the model's `TAIL_METHODS` and the `BASELINES`. `loss[horizon]` is what happened (NaN at
    the end)."""

    end: np.ndarray
    close: np.ndarray
    sigma: dict[str, np.ndarray]
    var: dict[str, dict[str, np.ndarray]]
    loss: dict[str, np.ndarray]
    fit_start: np.ndarray  # per bar, the index of the refit that forecast it
    models: list[VolatilityModel] = field(default_factory=list)


def _baselines(
    end: np.ndarray, close: np.ndarray, window: int, first: int, horizon: str, stats: Any
) -> dict[str, np.ndarray]:
    """Normal VaR (trailing standard deviation of 5-minute returns, square-root-of-time) and
    historical simulation (trailing empirical quantiles of matured losses), at every bar."""
    n, steps = len(end), HORIZONS[horizon] // BAR_SECONDS
    r = np.r_[np.nan, np.diff(np.log(close))]
    normal = np.full((n, len(MEASURES)), np.nan)
    historical = np.full((n, len(MEASURES)), np.nan)
    filled = np.nan_to_num(r)
    c1, c2 = np.r_[0, np.cumsum(filled)], np.r_[0, np.cumsum(filled**2)]
    idx = np.arange(n)
    lo = np.maximum(1, idx - window + 1)
    count = np.maximum(idx - lo + 1, 1)
    mean = (c1[idx + 1] - c1[lo]) / count
    sd = np.sqrt(np.maximum((c2[idx + 1] - c2[lo]) / count - mean**2, 0.0)) * math.sqrt(steps)
    for j, (name, level) in enumerate(MEASURES):
        q = stats.norm.ppf(level)
        normal[:, j] = sd * (stats.norm.pdf(q) / (1 - level) if name.startswith("es") else q)
    loss = realised_losses(end, close, horizon)
    matured = np.searchsorted(end, end - HORIZONS[horizon], side="right")  # loss known by now
    for i in range(first, n, DAY // BAR_SECONDS):  # recomputed daily, held for the day
        past = loss[max(0, matured[i] - window) : matured[i]]
        past = past[np.isfinite(past)]
        if len(past) < 100:
            continue
        row = []
        for name, level in MEASURES:
            q = float(np.quantile(past, level))
            row.append(float(past[past >= q].mean()) if name.startswith("es") else q)
        historical[i : i + DAY // BAR_SECONDS] = row
    return {"normal": normal, "historical": historical}


def walk_forward(
    end: np.ndarray,
    close: np.ndarray,
    kind: str = "ewma",
    train_days: int = 30,
    refit_days: int = 7,
    min_train_days: int = 14,
    progress: Any = None,
) -> WalkForward:
    """Refit every `refit_days` on the trailing `train_days` (from `min_train_days` on) and
    forecast each following bar with the model fitted before it: nothing a forecast reads
    comes after the bar it is made at. `progress(done, total)` is called after each refit."""
    _, stats = _libraries()
    end = np.asarray(end, dtype=np.int64)
    close = np.asarray(close, dtype=float)
    first = int(np.searchsorted(end, end[0] + min_train_days * DAY))
    if first >= len(end):
        raise BadInputError(
            f"{(end[-1] - end[0]) / DAY:.1f} days of bars: walk-forward needs more than "
            f"{min_train_days} days (the first training window)"
        )
    n = len(end)
    sigma = {h: np.full(n, np.nan) for h in HORIZONS}
    var: dict[str, dict[str, np.ndarray]] = {
        m: {h: np.full((n, len(MEASURES)), np.nan) for h in HORIZONS} for m in TAIL_METHODS
    }
    fit_start = np.full(n, -1)
    refits = list(range(first, n, refit_days * DAY // BAR_SECONDS))
    models = []
    for k, start in enumerate(refits):
        stop = refits[k + 1] if k + 1 < len(refits) else n
        lo = int(np.searchsorted(end, end[start] - train_days * DAY, side="left"))
        model = fit_volatility(end[lo:start], close[lo:start], kind=kind)
        models.append(model)
        forecaster = RiskForecaster(model)
        forecaster.update(end[lo:start], close[lo:start])  # the state at the refit: past only
        forecast = forecaster.update(end[start:stop], close[start:stop])
        for h in HORIZONS:
            sigma[h][start:stop] = forecast.sigma[h]
            for method in TAIL_METHODS:
                var[method][h][start:stop] = np.column_stack(
                    list(forecast.tail(model, h, method).values())
                )
        fit_start[start:stop] = start
        if progress:
            progress(k + 1, len(refits))
    window = train_days * DAY // BAR_SECONDS
    for h in HORIZONS:
        for name, values in _baselines(end, close, window, first, h, stats).items():
            var.setdefault(name, {})[h] = np.where(fit_start[:, None] >= 0, values, np.nan)
    loss = {h: realised_losses(end, close, h) for h in HORIZONS}
    return WalkForward(end, close, sigma, var, loss, fit_start, models)
