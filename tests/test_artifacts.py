"""A coin's newest artifact in a folder: chosen by the day in its name, read as JSON, and a
file that is not a JSON object refused with its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptosignals.artifacts import newest_artifact
from cryptosignals.errors import BadInputError


def test_the_newest_day_is_read_and_a_broken_artifact_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "bitcoin_up_1h_lightgbm_20250102.json").write_text('{"day": 2}')
    (tmp_path / "bitcoin_up_1h_lightgbm_20250101.json").write_text('{"day": 1}')
    (tmp_path / "ethereum_up_1h_lightgbm_20250301.json").write_text('{"day": 3}')
    data, where = newest_artifact("bitcoin_up_", tmp_path)  # type: ignore[misc]
    assert data == {"day": 2} and where.endswith("bitcoin_up_1h_lightgbm_20250102.json")
    assert newest_artifact("solana_up_", tmp_path) is None
    (tmp_path / "bitcoin_up_1h_lightgbm_20250103.json").write_text('{"day": ')
    with pytest.raises(BadInputError, match=r"20250103\.json: cannot read the model artifact"):
        newest_artifact("bitcoin_up_", tmp_path)
    (tmp_path / "bitcoin_up_1h_lightgbm_20250104.json").write_text("[1, 2]")
    with pytest.raises(BadInputError, match=r"20250104\.json: the model artifact is not a JSON"):
        newest_artifact("bitcoin_up_", tmp_path)
