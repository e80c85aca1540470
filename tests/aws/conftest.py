"""Fixtures of the AWS tests: one local stack (moto + template + runtime) per test session.

`local_stack` starts the shimmed emulator on a free 127.0.0.1 port, deploys template.yaml and
stops it at teardown (the server also exits by itself if this process dies). `aws_env` points
boto3 (and so the storage layer) at it for one test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cryptosignals.local.stack import LocalStack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    stack = LocalStack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def aws_env(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    for key, value in local_stack.environment().items():
        monkeypatch.setenv(key, value)
    return local_stack


@pytest.fixture
def coin() -> str:
    """A coin id no other test uses, so tests can share the deployed tables."""
    return f"testcoin-{uuid.uuid4().hex[:10]}"
