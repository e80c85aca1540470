"""Fitted models deployed with the stream: one JSON file of plain parameters per coin and kind.

    {"version": 1, "default": "bitcoin",
     "coins": {"bitcoin": {"volatility": {...}, "regimes": {...}}, ...}}

`cryptosignals risk --fit-out FILE` and `cryptosignals regimes --fit-out FILE` add a coin's
model of their kind to the file (creating it; the first coin becomes the default, which serves
coins without a model of their own). The package bundles one fitted on its samples
(`data/models.json`); a deployment may bring its own (FITTED_MODELS). The stream reads each
file once per process and builds the models from these parameters with numpy: no training
library is imported here.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

KINDS = ("volatility", "regimes")
BUNDLED = "models.json"
_VERSION = 1


def deployed_file(path: str) -> Path:
    """A file deployed with the functions: absolute, or a name inside the package's data/."""
    return (
        Path(path)
        if Path(path).is_absolute()
        else Path(str(resources.files("cryptosignals"))) / "data" / path
    )


def bundled_path() -> Path:
    return Path(str(resources.files("cryptosignals") / "data" / BUNDLED))


def read_fitted(path: str | Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The per-coin parameters (coin -> kind -> JSON) and the default coin of a models file;
    ValueError with the reason when the file cannot be used."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != _VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {_VERSION}")
        coins = {str(coin): dict(kinds) for coin, kinds in data["coins"].items()}
        default = data.get("default")
    except (OSError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a file of fitted models ({exc})") from None
    unknown = {kind for kinds in coins.values() for kind in kinds} - set(KINDS)
    if unknown:
        raise ValueError(f"{path}: unknown kinds of model {sorted(unknown)}; known: {KINDS}")
    if default is not None and default not in coins:
        raise ValueError(f"{path}: the default coin {default!r} has no models")
    return coins, default


def add_fitted(path: Path, coin: str, kind: str, params: dict[str, Any]) -> None:
    """Put one coin's model of one kind into a models file (created if missing)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of model {kind!r}; known: {KINDS}")
    coins, default = read_fitted(path) if path.exists() else ({}, None)
    coins.setdefault(coin, {})[kind] = params
    ordered = {c: dict(sorted(k.items())) for c, k in sorted(coins.items())}
    document = {"version": _VERSION, "default": default or coin, "coins": ordered}
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


@functools.cache
def _cached(path: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    return read_fitted(path)


def fitted_for(coin: str, kind: str, path: str | Path | None = None) -> dict[str, Any] | None:
    """The coin's parameters of one kind from a models file (the bundled one by default), else
    the default coin's, else None. Each file is read once per process."""
    coins, default = _cached(str(path if path is not None else bundled_path()))
    if kind in coins.get(coin, {}):
        return coins[coin][kind]
    if default is not None and kind in coins[default]:
        return coins[default][kind]
    return None
