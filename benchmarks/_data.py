"""The benchmarks' data: the shared real candles when present, else the bundled samples."""

from __future__ import annotations

from pathlib import Path

from cryptosignals.candles import SAMPLE_COINS, sample_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path("../shared/data/market")


def find_coins(data: Path, wanted: list[str] | None) -> tuple[dict[str, Path], str]:
    """The candle file of each coin, and a line saying where they came from."""
    found = {}
    if data.is_dir():
        for path in sorted(data.glob("*_5m.csv*")):
            found[path.name.split("_5m.csv")[0]] = path
    if found:
        source = f"data: {len(found)} coin(s) of 5m candles in {data}"
    else:
        found = {coin: sample_path(coin) for coin in SAMPLE_COINS}
        source = (
            f"data: {data} has no <coin>_5m.csv[.gz] files (missing): using the bundled "
            f"three-week samples of {', '.join(SAMPLE_COINS)}"
        )
    if wanted:
        missing = [c for c in wanted if c not in found]
        if missing:
            raise SystemExit(f"no 5m candles for {', '.join(missing)}; found: {', '.join(found)}")
        found = {c: found[c] for c in wanted}
    return found, source
