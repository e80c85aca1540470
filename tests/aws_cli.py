"""The AWS CLI as the seed's users run it (`aws --endpoint-url URL ...`), for the tests that
prove its commands work against the local stack. The `local` extra installs it into .venv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryptosignals.local.emulator import FAKE_CREDENTIALS, REGION


def aws_cli(endpoint: str, *args: str) -> dict[str, Any]:
    """`aws --endpoint-url ENDPOINT --output json ARGS` with the emulator's fake credentials;
    its JSON answer ({} when it prints nothing). A failed command fails the test."""
    candidates = [str(Path(sys.prefix) / "bin" / "aws"), shutil.which("aws")]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found is None:
        pytest.fail("the AWS CLI is missing: the `local` extra installs awscli")
    env = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_PAGER": ""}
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [found, "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}
