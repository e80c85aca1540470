"""A stored engine state from an older engine version resets the coin instead of failing forever."""

from __future__ import annotations

from cryptosignals.engine import STATE_VERSION, Engine
from cryptosignals.handlers.process import _engine


def test_an_old_state_version_starts_a_fresh_engine_and_a_current_one_resumes() -> None:
    old = {**Engine("bitcoin").state(), "version": STATE_VERSION - 1, "last_timestamp": 99}
    assert _engine("bitcoin", old).last_timestamp is None
    current = {**Engine("bitcoin").state(), "last_timestamp": 99}
    assert _engine("bitcoin", current).last_timestamp == 99
    assert _engine("bitcoin", None).state() == Engine("bitcoin").state()
