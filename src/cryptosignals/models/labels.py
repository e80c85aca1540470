"""Labels for models (training side): what happened after each bar, and when that was known.

- `up_labels`: the sign of the forward log return over a horizon net of a cost:
  1 if log(close[t + h] / close[t]) > cost, 0 otherwise, NaN where the future bar is unknown
  (the end of the data, or a gap). Targets are named `up_<horizon>`: up_5m, up_30m, up_1h, ...
- `triple_barrier`: for rule signals, which of a profit barrier, a stop barrier (both in units
  of the volatility forecast sigma) or a timeout came first, and when.

Every label comes with its window's end (`label_end`, unix seconds): a training sample whose
window reaches into a test fold must be purged (cryptosignals.models.evaluation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_TARGET = re.compile(r"^up_(?P<n>\d+)(?P<unit>[mh])$")
BAR_SECONDS = 300


def target_seconds(target: str) -> int:
    """The horizon of a target name: up_1h -> 3600; a multiple of the 5-minute bar."""
    match = _TARGET.match(target)
    if not match:
        raise ValueError(f"unknown target {target!r}: up_<n>m or up_<n>h, e.g. up_1h, up_30m")
    seconds = int(match["n"]) * (60 if match["unit"] == "m" else 3600)
    if seconds <= 0 or seconds % BAR_SECONDS:
        raise ValueError(f"target {target!r}: the horizon must be a positive multiple of 5m")
    return seconds


@dataclass(frozen=True)
class Labels:
    """One label per bar (NaN where unknown) and the end of the window it looks at."""

    y: np.ndarray
    label_end: np.ndarray  # unix seconds


def up_labels(end: np.ndarray, close: np.ndarray, horizon_s: int, cost: float = 0.0) -> Labels:
    """1 if the log return from this bar's close to the close `horizon_s` later is above `cost`
    (a log return: 0.002 = 20 bp), else 0; NaN where no bar closes exactly then."""
    end = np.asarray(end, dtype=np.int64)
    close = np.asarray(close, dtype=float)
    later = end + horizon_s
    j = np.searchsorted(end, later)
    found = j < len(end)
    found[found] = end[j[found]] == later[found]
    y = np.full(len(end), np.nan)
    ret = np.log(close[j[found]] / close[found])
    y[found] = (ret > cost).astype(float)
    return Labels(y, later.astype(float))


@dataclass(frozen=True)
class Barriers:
    """Triple-barrier outcomes of events: +1 profit first, -1 stop first, 0 timeout (NaN when
    the data ends first); `label_end` is when that was known (the touching bar's close, or the
    timeout), `ret` the log return (in the trade's direction) at that moment."""

    label: np.ndarray
    label_end: np.ndarray
    ret: np.ndarray


def triple_barrier(
    end: np.ndarray, close: np.ndarray, events: np.ndarray, sigma: np.ndarray,
    profit: float = 2.0, stop: float = 1.0, timeout_s: int = 3600, side: np.ndarray | None = None,
) -> Barriers:  # fmt: skip
    """For each event (an index into the bars, entered at that bar's close): the first later
    bar whose close is `profit` sigmas up (in the trade's direction: `side` +1 long, -1 short,
    long by default) or `stop` sigmas down, else the timeout. `sigma` is each bar's forecast of
    the log return's standard deviation over the timeout (e.g. the engine's sigma_1h for a 1h
    timeout); events without a finite positive sigma get NaN."""
    end = np.asarray(end, dtype=np.int64)
    log_close = np.log(np.asarray(close, dtype=float))
    events = np.asarray(events, dtype=np.int64)
    sides = np.ones(len(events)) if side is None else np.asarray(side, dtype=float)
    label = np.full(len(events), np.nan)
    label_end = np.full(len(events), np.nan)
    ret = np.full(len(events), np.nan)
    for k, i in enumerate(events):
        s = float(sigma[i])
        if not (np.isfinite(s) and s > 0):
            continue
        stop_at = np.searchsorted(end, end[i] + timeout_s, side="right")
        path = (log_close[i + 1 : stop_at] - log_close[i]) * sides[k]
        up = np.flatnonzero(path >= profit * s)
        down = np.flatnonzero(path <= -stop * s)
        first_up = up[0] if len(up) else len(path)
        first_down = down[0] if len(down) else len(path)
        if first_up < first_down:
            label[k], at = 1.0, i + 1 + first_up
        elif first_down < first_up:
            label[k], at = -1.0, i + 1 + first_down
        elif stop_at < len(end) or (len(path) and end[stop_at - 1] == end[i] + timeout_s):
            label[k], at = 0.0, stop_at - 1
        else:
            continue  # the data ends before any barrier or the timeout
        label_end[k] = float(end[i] + timeout_s) if label[k] == 0 else float(end[at])
        ret[k] = (log_close[at] - log_close[i]) * sides[k]
    return Barriers(label, label_end, ret)
