"""The benchmarks' data: the shared real candles when present, else the bundled samples."""

from __future__ import annotations

import argparse
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


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """--data and --coins, the same in every benchmark (read back with `coin_files`)."""
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder of <coin>_5m.csv[.gz], relative to the repository root (default "
        "../shared/data/market; missing or empty: the bundled samples)",
    )
    parser.add_argument("--coins", help="comma-separated coin ids (default: all found)")


def coin_files(args: argparse.Namespace) -> tuple[dict[str, Path], str]:
    """`find_coins` for the options of `add_data_options`."""
    data = args.data if args.data.is_absolute() else ROOT / args.data
    wanted = [c.strip() for c in args.coins.split(",") if c.strip()] if args.coins else None
    return find_coins(data, wanted)
