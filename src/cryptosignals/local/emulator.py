"""The emulator's lifecycle and the deployment of template.yaml into it.

`Emulator.start()` runs `python -m cryptosignals.local.server` (moto + our shims) on a free
127.0.0.1 port; `deploy()` zips the package like `sam package`, uploads it to the emulator's S3,
translates the SAM template offline and creates the CloudFormation stack from it.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import requests

from cryptosignals.errors import PermanentError
from cryptosignals.local.template import load_template, translate

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
#: Credentials the emulator accepts; never real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CODE_BUCKET = "cryptosignals-code-local"
DEFAULT_STACK = "cryptosignals"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client(service: str, endpoint: str, region: str = REGION) -> Any:
    """A boto3 client for the emulator: fake credentials, one retry at most (errors show)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries={"max_attempts": 2, "mode": "standard"}),
    )


@dataclass
class Emulator:
    """A running moto server (with shims) on 127.0.0.1; stop() ends it."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, port: int = 0, timeout: float = 20.0) -> Emulator:
        """Start the server (port 0: the system picks a free one) and wait until it is bound
        and answers; its log goes to a temp file."""
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="cryptosignals-emulator-", suffix=".log", delete=False
        )
        ready = Path(log.name).with_suffix(".port")
        command = [
            *(sys.executable, "-m", "cryptosignals.local.server", "--port", str(port)),
            *("--ready-file", str(ready), "--parent-pid", str(os.getpid())),
        ]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        emulator = cls(port, process, Path(log.name))
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise PermanentError(
                        f"the emulator exited with status {process.returncode}:\n"
                        f"{emulator.log_tail()}"
                    )
                if ready.exists():
                    emulator.port = int(ready.read_text())
                    try:
                        requests.get(f"{emulator.endpoint}/moto-api/data.json", timeout=1)
                        return emulator
                    except requests.ConnectionError:
                        pass
                time.sleep(0.05)
        finally:
            ready.unlink(missing_ok=True)
        emulator.stop()
        raise PermanentError(f"the emulator did not answer within {timeout} s")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.log_path.unlink(missing_ok=True)


def package_code(source: Path | None = None) -> bytes:
    """The Lambda zip: the `cryptosignals` package as `sam build` lays it out (CodeUri: src/)."""
    source = source or Path(__file__).resolve().parents[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, Path("cryptosignals") / path.relative_to(source))
    return buffer.getvalue()


@dataclass(frozen=True)
class DeployedStack:
    """What the deployment created: outputs, logical -> physical ids, the translated template."""

    name: str
    endpoint: str
    region: str
    outputs: dict[str, str]
    resources: dict[str, str]
    resource_types: dict[str, str]
    translated: dict[str, Any] = field(repr=False)
    seconds: float = 0.0

    def output(self, key: str) -> str:
        return self.outputs[key]


def stack_parameters(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Template parameters as CloudFormation strings."""
    return {key: str(value) for key, value in (overrides or {}).items()}


def deploy(
    endpoint: str,
    *,
    stack_name: str = DEFAULT_STACK,
    parameters: dict[str, Any] | None = None,
    region: str = REGION,
    timeout: float = 60.0,
) -> DeployedStack:
    """Package, upload, translate and create the stack; raise if it does not complete."""
    started = time.perf_counter()
    s3 = client("s3", endpoint, region)
    s3.create_bucket(Bucket=CODE_BUCKET)
    key = f"{stack_name}/code.zip"
    s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=package_code())
    params = stack_parameters(parameters)
    translated = translate(
        load_template(), params, code_uri=f"s3://{CODE_BUCKET}/{key}", region=region
    )
    cfn = client("cloudformation", endpoint, region)
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            raise PermanentError(f"stack {stack_name} ended in {status}")
        time.sleep(0.05)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources: dict[str, str] = {}
    types: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            resources[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
            types[summary["LogicalResourceId"]] = summary["ResourceType"]
    return DeployedStack(
        stack_name,
        endpoint,
        region,
        outputs,
        resources,
        types,
        translated,
        time.perf_counter() - started,
    )
