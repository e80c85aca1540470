"""Fixtures of the pipeline proofs: a local stack of their own (they write real coin ids)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cryptosignals.local.stack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack.start() as local:
        yield local


@pytest.fixture
def stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """boto3 in this process pointed at the stack (for clients the test itself creates)."""
    for key, value in stack.environment().items():
        monkeypatch.setenv(key, value)
    return stack
