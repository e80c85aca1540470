"""`cryptosignals profile`: when a coin moves (hour of day, day of week, hour of week) and
whether the weekend differs, with intervals over weeks and multiple-testing control."""

from __future__ import annotations

import html
import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from cryptosignals.backtest.report import PAGE_CSS
from cryptosignals.candles import coin_of_file, read_candles, sample_path
from cryptosignals.commands.analyze import CoinOption, InputOption, console, utc
from cryptosignals.profile import (
    DAYS,
    CoinProfile,
    Grid,
    Measure,
    Profile,
    SessionComparison,
    profile_candles,
)

#: Below this many weeks the command says that its intervals rest on few replicates.
FEW_WEEKS = 8


class ProfileFormat(StrEnum):
    table = "table"
    json = "json"


def _cell(p: Profile, k: int, markup: bool = True) -> str:
    """A cell's estimate and interval, e.g. `1.61 (1.52-1.69)*`; * = differs after BH."""
    if math.isnan(p.estimate[k]):
        return "-"
    text = f"{p.estimate[k]:.2f} ({p.low[k]:.2f}..{p.high[k]:.2f})"
    if not p.flagged[k]:
        return text
    if not markup:
        return text + " *"
    above = p.estimate[k] > (1.0 if p.measure.is_ratio else 0.0)
    return f"[{'red' if above else 'blue'}]{text} *[/]"


def _grid_table(result: CoinProfile, grid: Grid) -> Table:
    title = {
        Grid.hour_of_day: "By hour of day (UTC)",
        Grid.day_of_week: "By day of week (UTC)",
        Grid.hour_of_week: "By hour of week (UTC)",
    }[grid]
    profiles = [result.profiles[grid, m] for m in Measure]
    table = Table(
        title=f"{result.coin}: {title}; factor 1 = the typical cell; * = differs from the rest "
        f"(BH q <= {profiles[0].fdr:g}); ({profiles[0].confidence:.0%} interval over weeks)",
        title_justify="left",
    )
    table.add_column("cell")
    for column in ("volatility factor", "volume factor", "mean return bp/5m", "weeks"):
        table.add_column(column, justify="right")
    for k, label in enumerate(grid.labels()):
        table.add_row(label, *(_cell(p, k) for p in profiles), str(int(profiles[0].weeks[k])))
    return table


def _flagged_table(result: CoinProfile, limit: int = 24) -> Table:
    table = Table(
        title=f"{result.coin}: hours of the week that differ from the rest (BH q <= "
        f"{result.profiles[Grid.hour_of_week, Measure.volatility].fdr:g}), strongest first",
        title_justify="left",
    )
    for column in ("measure", "cells flagged", "above typical", "below typical"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_column("strongest (factor, q)", justify="left")
    for measure in Measure:
        p = result.profiles[Grid.hour_of_week, measure]
        flagged = np.flatnonzero(p.flagged)
        null = 1.0 if measure.is_ratio else 0.0
        above = int(np.sum(p.estimate[flagged] > null))
        order = flagged[np.argsort(p.q_value[flagged], kind="stable")][:limit]
        shown = ", ".join(f"{p.labels[k]} {p.estimate[k]:.2f} q={p.q_value[k]:.1g}" for k in order)
        more = f" (+{len(flagged) - len(order)} more)" if len(flagged) > len(order) else ""
        table.add_row(
            measure.value, f"{len(flagged)}/{len(p.labels)}", str(above),
            str(len(flagged) - above), (shown + more) or "none",
        )  # fmt: skip
    return table


def _level(measure: Measure, value: float) -> str:
    """A session's mean per 5-minute bar in readable units."""
    if measure is Measure.volatility:
        return f"{value * 1e4:.1f} bp |r|"
    if measure is Measure.volume:
        return f"${value:,.0f}"
    return f"{value:+.2f} bp"


def _session_table(result: CoinProfile) -> Table:
    first = next(iter(result.sessions.values()))
    table = Table(
        title=f"{result.coin}: weekend (Sat+Sun UTC) vs weekdays; {first.confidence:.0%} "
        f"interval from a circular block bootstrap of days (blocks of {first.block_days})",
        title_justify="left",
    )
    columns = ("measure", "weekend, per 5m", "weekday, per 5m", "weekend vs weekday", "interval")
    for column in (*columns, "differs"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for measure, s in result.sessions.items():
        kind = "ratio" if measure.is_ratio else "difference bp"
        table.add_row(
            measure.value, _level(measure, s.weekend), _level(measure, s.weekday),
            f"{s.estimate:.3f} ({kind})", f"{s.low:.3f}..{s.high:.3f}",
            "[bold]yes[/]" if s.excludes_null else "no",
        )  # fmt: skip
    return table


# --- HTML ------------------------------------------------------------------------------------


def _colour(factor: float) -> str:
    """Diverging colour of a factor on a log scale: blue below 1, white at 1, red above,
    saturated at half and double."""
    if math.isnan(factor) or factor <= 0:
        return "#dddddd"
    x = max(-1.0, min(1.0, math.log2(factor)))
    end = (178, 24, 43) if x > 0 else (33, 102, 172)
    rgb = (round(255 + (c - 255) * abs(x)) for c in end)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap_svg(profile: Profile, title: str = "") -> str:
    """The hour-of-week factors as 7 rows (Monday first) x 24 columns (UTC hours), cells that
    differ after Benjamini-Hochberg outlined; each cell's tooltip gives factor, interval, q."""
    cell, left, top = 28, 44, 40
    width, height = left + 24 * cell + 150, top + 7 * cell + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" class="heatmap">',
        f'<text x="{left}" y="18" font-size="14" font-weight="600">{html.escape(title)}</text>',
    ]
    factors, low, high, q = (
        profile.grid_7x24(v)
        for v in (profile.estimate, profile.low, profile.high, profile.q_value)
    )  # fmt: skip
    flagged = profile.grid_7x24(profile.flagged)
    for d in range(7):
        y = top + d * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end" '
            f'font-size="11">{DAYS[d]}</text>'
        )
        for h in range(24):
            x = left + h * cell
            tip = (
                f"{DAYS[d]} {h:02d}h UTC: factor {factors[d, h]:.2f} "
                f"({low[d, h]:.2f}-{high[d, h]:.2f}), q={q[d, h]:.2g}"
            )
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" '
                f'fill="{_colour(float(factors[d, h]))}" stroke="#fff"><title>{tip}</title></rect>'
            )
    for d, h in zip(*np.nonzero(flagged), strict=True):
        parts.append(
            f'<rect class="flagged" x="{left + h * cell + 1.5}" y="{top + d * cell + 1.5}" '
            f'width="{cell - 3}" height="{cell - 3}" fill="none" stroke="#111" stroke-width="2"/>'
        )
    for h in range(0, 24, 3):
        parts.append(
            f'<text x="{left + h * cell + cell / 2}" y="{top + 7 * cell + 14}" '
            f'text-anchor="middle" font-size="11">{h:02d}h</text>'
        )
    parts.append(
        f'<text x="{left + 12 * cell}" y="{top + 7 * cell + 32}" text-anchor="middle" '
        f'font-size="12">hour of day (UTC)</text>'
    )
    legend_x = left + 24 * cell + 20
    for k, f in enumerate((2.0, 1.5, 1.0, 1 / 1.5, 0.5)):
        y = top + k * 22
        parts.append(
            f'<rect x="{legend_x}" y="{y}" width="18" height="18" fill="{_colour(f)}" '
            f'stroke="#ccc"/><text x="{legend_x + 24}" y="{y + 13}" font-size="11">'
            f"{'x' if f >= 1 else '/'}{(f if f >= 1 else 1 / f):g}</text>"
        )
    y = top + 5 * 22 + 6
    parts.append(
        f'<rect x="{legend_x}" y="{y}" width="18" height="18" fill="none" stroke="#111" '
        f'stroke-width="2"/><text x="{legend_x + 24}" y="{y + 13}" font-size="11">'
        f"differs (q &lt;= {profile.fdr:g})</text></svg>"
    )
    return "".join(parts)


def _html_table(result: CoinProfile, grid: Grid) -> str:
    profiles = [result.profiles[grid, m] for m in Measure]
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(
            f'<td class="{"flag" if p.flagged[k] else ""}">{html.escape(_cell(p, k, False))}</td>'
            for p in profiles
        )
        + f"<td>{int(profiles[0].weeks[k])}</td></tr>"
        for k, label in enumerate(grid.labels())
    )
    return (
        "<table><tr><th>cell</th><th>volatility factor</th><th>volume factor</th>"
        f"<th>mean return bp/5m</th><th>weeks</th></tr>{rows}</table>"
    )


def _html_sessions(sessions: dict[Measure, SessionComparison]) -> str:
    rows = "".join(
        f"<tr><td>{m.value}</td><td>{_level(m, s.weekend)}</td><td>{_level(m, s.weekday)}</td>"
        f"<td>{s.estimate:.3f} {'ratio' if m.is_ratio else 'difference bp'}</td>"
        f"<td>{s.low:.3f}..{s.high:.3f}</td><td>{'yes' if s.excludes_null else 'no'}</td></tr>"
        for m, s in sessions.items()
    )
    return (
        "<table><tr><th>measure</th><th>weekend</th><th>weekday</th><th>weekend vs weekday</th>"
        f"<th>interval</th><th>differs</th></tr>{rows}</table>"
    )


_CSS = PAGE_CSS + "td.flag{font-weight:600;background:#fff3d6}"


def profile_html(result: CoinProfile) -> str:
    """A self-contained page: the hour-of-week volatility heatmap and every table."""
    vol = result.profiles[Grid.hour_of_week, Measure.volatility]
    title = f"When does {result.coin} move?"
    sub = (
        f"{utc(result.start)} to {utc(result.end)} UTC, {result.bars:,} bars, {result.weeks} "
        f"weeks. Factor 1 = the typical cell (geometric mean over cells); intervals "
        f"({vol.confidence:.0%}) and tests over weeks, each week scaled by its own level; "
        f"'differs' = Benjamini-Hochberg q &lt;= {vol.fdr:g} over the cells of the grid."
    )
    flagged = int(vol.flagged.sum())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><p class="small">{sub}</p>
<h2>Volatility by hour of week</h2><p class="small">mean |5-minute log return| of each hour of
the week against the typical hour; {flagged} of 168 hours differ from the rest (outlined).</p>
{heatmap_svg(vol, f"{result.coin}: volatility factor by hour of week (UTC)")}
<h2>Weekend vs weekdays</h2>{_html_sessions(result.sessions)}
<h2>By hour of day (UTC)</h2>{_html_table(result, Grid.hour_of_day)}
<h2>By day of week</h2>{_html_table(result, Grid.day_of_week)}
</body></html>
"""


def profile(
    input: InputOption = None,
    coin: CoinOption = None,
    format: Annotated[ProfileFormat, typer.Option(help="Output format.")] = ProfileFormat.table,
    html_out: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write a self-contained HTML page (hour-of-week heatmap and tables).",
            show_default=False,
        ),
    ] = None,
    fdr: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="False-discovery rate of 'differs'.")
    ] = 0.10,
    confidence: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="Confidence of the intervals.")
    ] = 0.95,
) -> None:
    """When does this coin move: volatility, volume and return by hour of day, day of week and
    hour of week (factors with intervals over weeks; the hours that differ from the rest after
    Benjamini-Hochberg), and weekend vs weekdays with block-bootstrap intervals."""
    coin = coin_of_file(input, coin)
    candles = read_candles(input if input is not None else sample_path(coin))
    result = profile_candles(coin, candles, confidence=confidence, fdr=fdr)
    if result.weeks < FEW_WEEKS:
        console(stderr=True).print(
            f"note: {result.weeks} weeks of data: intervals over so few weeks are wide, and the "
            f"weekend bootstrap rests on {result.weeks} blocks; {FEW_WEEKS}+ weeks say more",
            highlight=False,
        )
    if format is ProfileFormat.json:
        document = {"input": str(input) if input else f"sample:{coin}", **result.to_json()}
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        out = console()
        out.print(
            f"{coin}: {utc(result.start)} to {utc(result.end)} UTC, {result.bars:,} bars, "
            f"{result.weeks} weeks",
            highlight=False,
        )
        for grid in (Grid.hour_of_day, Grid.day_of_week):
            out.print(_grid_table(result, grid))
        out.print(_flagged_table(result))
        out.print(_session_table(result))
    if html_out is not None:
        html_out.write_text(profile_html(result), encoding="utf-8")
        console(stderr=True).print(f"profile page written to {html_out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(profile)
