"""Fixtures of the dashboard tests: a fresh local stack (moto on 127.0.0.1 + template.yaml) per
test that needs one (`dashboard_support.run_pipeline` feeds it through the real pipeline)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cryptosignals.local.stack import LocalStack

sys.path.insert(0, str(Path(__file__).parent))  # dashboard_support, whatever the import mode


@pytest.fixture
def fresh_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """A new emulator with the stack deployed and the environment pointing at it."""
    stack = LocalStack.start()
    try:
        for key, value in stack.environment().items():
            monkeypatch.setenv(key, value)
        yield stack
    finally:
        stack.stop()
