"""What the process function deploys with: a stored engine state from an older engine version
(or compressed with another dictionary) resets the coin instead of failing forever; the
evidence history and the fitted models files."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cryptosignals.aws.config import AwsSettings
from cryptosignals.aws.store import STATE_DICTIONARY, _dump_state, _load_state
from cryptosignals.candles import candles_to_ticks, read_candles, sample_path
from cryptosignals.engine import STATE_VERSION, Engine
from cryptosignals.errors import BadInputError
from cryptosignals.evidence import history_document, read_history
from cryptosignals.fitted import add_fitted
from cryptosignals.handlers.process import _engine
from cryptosignals.model import TickSeries
from cryptosignals.risk import VolatilityModel, model_for

SETTINGS = AwsSettings()


def test_an_old_state_version_starts_a_fresh_engine_and_a_current_one_resumes() -> None:
    old = {**Engine("bitcoin").state(), "version": STATE_VERSION - 1, "last_timestamp": 99}
    assert _engine("bitcoin", old, SETTINGS).last_timestamp is None
    current = {**Engine("bitcoin").state(), "last_timestamp": 99}
    assert _engine("bitcoin", current, SETTINGS).last_timestamp == 99
    assert _engine("bitcoin", None, SETTINGS).state() == Engine("bitcoin").state()


def test_states_are_compressed_with_the_frozen_dictionary_and_older_forms_still_read() -> None:
    """The preset dictionary is part of the stored format: changing it makes every stored state
    unreadable (reset, as below). Pinned here so that it cannot change by accident."""
    assert zlib.adler32(STATE_DICTIONARY) == 2734035678
    engine = Engine("bitcoin")
    engine.feed(candles_to_ticks("bitcoin", read_candles(sample_path("bitcoin"))))
    state = json.loads(json.dumps(engine.state()))
    stored = _dump_state(state)
    assert _load_state(stored) == state
    assert len(stored) < 0.9 * len(zlib.compress(json.dumps(state).encode(), 6))
    # 3.75-4.12 KB for the bundled coins: 4 or 5 write units with the item's key and attribute
    # names (the fan, the 15m/4h zones and the 1m trend added ~0.9 KB; docs/cost.md)
    assert len(stored) <= 5120 - 100
    assert _load_state(zlib.compress(json.dumps(state).encode())) == state  # before the dictionary
    other = zlib.compressobj(6, zdict=b'{"version":5}')
    unreadable = _load_state(other.compress(json.dumps(state).encode()) + other.flush())
    assert _engine("bitcoin", unreadable, SETTINGS).last_timestamp is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=6),
    max_leaves=40,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=8))
def test_a_state_comes_back_exactly_as_written_and_as_the_standard_library_reads_it(
    state: dict[str, Any],
) -> None:
    """orjson writes the states: every float to the bit, and the stored bytes say what the
    standard library's JSON would read from them."""
    stored = _dump_state(state)
    assert _load_state(stored) == state
    unpacker = zlib.decompressobj(zdict=STATE_DICTIONARY)
    assert json.loads(unpacker.decompress(stored) + unpacker.flush()) == state
    written_by_json = zlib.compressobj(6, zdict=STATE_DICTIONARY)
    older = written_by_json.compress(json.dumps(state).encode()) + written_by_json.flush()
    assert _load_state(older) == state


def test_engine_states_hold_no_nan_and_a_nan_written_by_json_still_reads() -> None:
    """The engine writes an unknown number as null itself, so orjson (which would write NaN as
    null) stores what `json` stored; a state with a NaN that `json` wrote (not strict JSON) is
    still read."""
    ticks = candles_to_ticks("ethereum", read_candles(sample_path("ethereum"))).ticks()
    engine = Engine("ethereum")
    for start in range(0, 3000, 250):  # from the first tick (nothing known) to warmed up
        engine.feed(TickSeries.from_ticks("ethereum", ticks[start : start + 250]))
        json.dumps(engine.state(), allow_nan=False)  # raises on a NaN
    packer = zlib.compressobj(6, zdict=STATE_DICTIONARY)
    with_nan = packer.compress(b'{"version":1,"x":[NaN,1.5]}') + packer.flush()
    loaded = _load_state(with_nan)
    assert loaded["x"][1] == 1.5 and math.isnan(loaded["x"][0])


def test_a_fresh_engine_starts_from_the_deployed_history_and_a_mismatched_one_is_refused(
    tmp_path: Path,
) -> None:
    records = {"records": {"rsi_reversal|5m|BUY": [40, 25, 0.2, 0.01, 9.0, 3, None]}}
    config = Engine("bitcoin").config.evidence
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history_document({"bitcoin": records}, {"bitcoin": (1, 2)}, config)))
    settings = AwsSettings(evidence_history=str(path))
    warm = _engine("bitcoin", None, settings)
    assert warm.track.prior and warm.track.records["rsi_reversal|5m|BUY"].n == 40
    assert not _engine("ethereum", None, settings).track.prior  # no history for this coin
    other = {**history_document({"bitcoin": records}, {"bitcoin": (1, 2)}, config), "horizon": "4h"}
    stale = tmp_path / "stale.json"  # a new file: the history is read once per container
    stale.write_text(json.dumps(other))
    with pytest.raises(BadInputError, match="rebuild it"):  # what the deploy got wrong
        read_history(stale, config)
    # The function logs it and goes on from no record rather than failing every batch.
    fresh = _engine("bitcoin", None, AwsSettings(evidence_history=str(stale)))
    assert not fresh.track.prior and not fresh.track.records


def test_a_deployed_models_file_serves_its_coins_and_an_unusable_one_is_not_fatal(
    tmp_path: Path,
) -> None:
    bundled = model_for("bitcoin")
    assert bundled is not None and Engine("bitcoin").config.volatility == bundled
    calm = json.loads(json.dumps(bundled.to_json()))
    calm["initial_variance"] /= 100
    path = tmp_path / "models.json"
    mine = VolatilityModel.from_json(calm)
    add_fitted(path, "dogecoin", "volatility", mine.to_json())
    settings = AwsSettings(fitted_models=str(path))
    assert _engine("dogecoin", None, settings).config.volatility == mine
    assert _engine("bitcoin", None, settings).config.volatility == mine  # the file's default
    resumed = _engine("dogecoin", Engine("dogecoin").state(), settings)
    assert resumed.config.volatility == mine
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    assert _engine("bitcoin", None, AwsSettings(fitted_models=str(broken))).config.volatility == (
        bundled
    )


def test_a_deployed_p_up_folder_serves_each_coins_newest_model_and_a_bad_one_is_not_fatal(
    tmp_path: Path,
) -> None:
    from cryptosignals.models.evaluation import dataset, train_artifact

    candles = read_candles(sample_path("bitcoin"))[:2500]
    artifact = train_artifact(dataset("bitcoin", candles, "up_1h"))
    folder = tmp_path / "models" / "p_up"  # MODELS' layout: a p_up/ folder of artifacts
    folder.mkdir(parents=True)
    (folder / "bitcoin_up_1h_logistic_20250101.json").write_text(json.dumps(artifact))
    newer = {**artifact, "training": {**artifact["training"], "end": 1_767_225_600}}
    (folder / "bitcoin_up_1h_logistic_20260101.json").write_text(json.dumps(newer))
    settings = AwsSettings(models=str(tmp_path / "models"))
    served = _engine("bitcoin", None, settings).config.predictor
    assert served is not None and "_20260101@" in served.version
    assert _engine("ethereum", None, settings).config.predictor is None  # none for this coin
    assert _engine("bitcoin", None, SETTINGS).config.predictor is None  # the default: none
    trees = tmp_path / "trees" / "p_up"
    trees.mkdir(parents=True)
    (trees / "bitcoin_up_1h_lightgbm_20260101.json").write_text(
        json.dumps({**artifact, "model": "lightgbm"})
    )
    kept = _engine("bitcoin", None, AwsSettings(models=str(trees.parent)))
    assert kept.config.predictor is None and kept.config.volatility is not None
