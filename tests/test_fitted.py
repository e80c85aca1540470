"""The fitted-models file: per coin and kind, a default coin, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cryptosignals.fitted import add_fitted, bundled_path, fitted_for, read_fitted


def test_models_of_each_kind_merge_into_one_file_and_the_first_coin_is_the_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "models.json"
    add_fitted(path, "solana", "volatility", {"a": 1})
    add_fitted(path, "bitcoin", "regimes", {"b": 2})
    add_fitted(path, "solana", "volatility", {"a": 3})  # a refit replaces
    coins, default = read_fitted(path)
    assert default == "solana"
    assert coins == {"bitcoin": {"regimes": {"b": 2}}, "solana": {"volatility": {"a": 3}}}
    assert fitted_for("bitcoin", "regimes", path) == {"b": 2}
    assert fitted_for("dogecoin", "volatility", path) == {"a": 3}  # the default coin's
    assert fitted_for("dogecoin", "regimes", path) is None  # the default has none of this kind


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "not a file of fitted models"),
        ('{"version": 2, "coins": {}}', "version 2"),
        ('{"version": 1, "coins": {"x": {"magic": {}}}}', "unknown kinds of model"),
        ('{"version": 1, "default": "y", "coins": {"x": {}}}', "default coin 'y'"),
    ],
)
def test_an_unusable_file_is_refused_with_its_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "models.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=reason):
        read_fitted(path)
    with pytest.raises(ValueError, match="unknown kind"):
        add_fitted(tmp_path / "new.json", "x", "magic", {})


def test_the_bundled_file_has_a_volatility_model_for_each_sample_coin() -> None:
    coins, default = read_fitted(bundled_path())
    assert default == "bitcoin"
    assert {"bitcoin", "ethereum", "solana", "cardano"} <= set(coins)
    assert all("volatility" in kinds for kinds in coins.values())
    assert json.loads(bundled_path().read_text())["version"] == 1
