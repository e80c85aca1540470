"""Candle files: clear errors that name file and line; the one candle -> tick conversion."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from cryptosignals.candles import (
    CIRCULATING_SUPPLY,
    SAMPLE_COINS,
    candles_to_ticks,
    read_candles,
    sample_path,
)
from cryptosignals.errors import BadInputError

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "1700000000000,10,11,9,10.5,100\n1700000300000,10.5,12,10,11,200\n"


def _write(tmp_path: Path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,open,high,low,close,volume\n" + GOOD, r"c\.csv:1: expected columns"),
        (HEADER + GOOD + "1700000300000,10,11,9,10,5\n", r"c\.csv:4: duplicate timestamp"),
        (HEADER + GOOD + "1700000000000,10,11,9,10,5\n", r"c\.csv:4: timestamps are not sorted"),
        (HEADER + "1700000000000,10,11,9,abc,5\n", r"c\.csv:2: close is not a number: 'abc'"),
        (HEADER + "1700000000000,10,11,-9,10,5\n", r"c\.csv:2: low must be positive"),
        (HEADER + "1700000000000,10,11,9,10\n", r"c\.csv:2: expected 6 fields, found 5"),
        (HEADER + "1700000000000,10,11,9,12,5\n", r"c\.csv:2: prices violate"),
        (HEADER + "1700000000000,10,11,9,nan,5\n", r"c\.csv:2: close is not finite"),
        (HEADER, r"c\.csv: the file has a header but no candles"),
        ("", r"c\.csv: the file is empty"),
    ],
)
def test_bad_candle_files_are_rejected_naming_file_line_and_problem(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        read_candles(_write(tmp_path, body))


def test_missing_file_and_broken_gzip_are_clear(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        read_candles(tmp_path / "absent.csv")
    with pytest.raises(BadInputError, match="cannot read the file"):
        read_candles(_write(tmp_path, "not gzip", "x.csv.gz"))


def test_gzip_and_plain_files_read_the_same(tmp_path: Path) -> None:
    plain = read_candles(_write(tmp_path, HEADER + GOOD))
    packed = tmp_path / "c.csv.gz"
    with gzip.open(packed, "wt") as f:
        f.write(HEADER + GOOD)
    assert np.array_equal(read_candles(packed).close, plain.close)
    assert plain.interval_ms == 300_000


def test_every_bundled_sample_is_readable_and_regular() -> None:
    for coin in SAMPLE_COINS:
        candles = read_candles(sample_path(coin))
        assert len(candles) == 6048
        assert np.all(np.diff(candles.timestamp) == 300_000)
    with pytest.raises(BadInputError, match="no bundled sample"):
        sample_path("shibainu")


def test_candles_become_ticks_at_close_time_with_trailing_24h_volume(btc_candles) -> None:  # type: ignore[no-untyped-def]
    ticks = candles_to_ticks("bitcoin", btc_candles)
    assert np.array_equal(ticks.timestamp, btc_candles.timestamp // 1000 + 300)
    assert np.array_equal(ticks.price, btc_candles.close)
    # NaN until a full day is known; then exactly the sum of the last 288 candle volumes.
    assert np.all(np.isnan(ticks.volume_24h[:287]))
    for i in (287, 1000, 6047):
        expected = round(float(np.sum(btc_candles.volume[i - 287 : i + 1])), 2)
        assert ticks.volume_24h[i] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(ticks.change_24h[287])
    assert ticks.change_24h[300] == pytest.approx(
        (btc_candles.close[300] / btc_candles.close[12] - 1) * 100
    )
    assert ticks.market_cap[0] == pytest.approx(
        btc_candles.close[0] * CIRCULATING_SUPPLY["bitcoin"]
    )
