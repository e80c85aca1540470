"""An image function without Docker: the Lambda Runtime API on 127.0.0.1 and AWS's runtime
interface client (`python -m awslambdaric`, the base image's entry point) in a process of its
own, with this venv's interpreter. The probe handlers are a tiny module written for the test.

The last test runs the training state machine on the local stack twice, once in-process and
once with the training function in its own process through the client, and gets the same
report."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cryptosignals.candles import sample_path
from cryptosignals.errors import BadInputError
from cryptosignals.local.runtime_api import (
    IMAGE_PATH_ENV,
    IMAGE_PYTHON_ENV,
    IMAGE_RUNTIME_ENV,
    ImageFunction,
    Interpreter,
    RuntimeApi,
)
from cryptosignals.local.stack import LocalStack

pytestmark = pytest.mark.integration

PROBE = """
import os
import time

print("cold start of", os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def echo(event, context):
    print("echo", context.aws_request_id)
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function": context.function_name,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
        "environment": {k: v for k, v in os.environ.items() if not k.startswith("_")},
    }


def boom(event, context):
    raise ValueError(f"no candles for {event['coin']}")


def sleepy(event, context):
    print("going to sleep")
    time.sleep(60)


def exits(event, context):
    os._exit(3)


def too_large(event, context):
    return "x" * (7 * 1024 * 1024)
"""


@pytest.fixture(scope="module")
def interpreter(tmp_path_factory: pytest.TempPathFactory) -> Interpreter:
    """This venv's Python with the probe module's folder on its path."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "image_probe.py").write_text(textwrap.dedent(PROBE))
    return Interpreter(path=(str(folder),))


@pytest.fixture
def echo(interpreter: Interpreter) -> Iterator[ImageFunction]:
    with ImageFunction(
        ["image_probe.echo"],
        {"AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
         "MODELS_BUCKET": "models"},
        name="probe", timeout=5, memory=256, interpreter=interpreter,
    ) as function:  # fmt: skip
        yield function


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_client_gets_the_event_and_its_response_comes_back_as_the_result(
    echo: ImageFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOMETHING_OF_THE_TEST_PROCESS", "leaks")
    first = echo.invoke({"coins": ["bitcoin"], "n": 1})
    assert not first.failed, first.error_message
    result = first.result
    assert result["event"] == {"coins": ["bitcoin"], "n": 1}
    assert result["request_id"] == first.request_id
    assert result["function"] == "probe" and result["memory"] == "256"
    assert result["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:probe"
    assert 0 < result["remaining_ms"] <= 5000  # from Lambda-Runtime-Deadline-Ms
    env = result["environment"]
    assert env["MODELS_BUCKET"] == "models" and env["AWS_LAMBDA_RUNTIME_API"] == echo._api.address  # type: ignore[union-attr]  # fmt: skip
    assert "SOMETHING_OF_THE_TEST_PROCESS" not in env  # only the function's environment
    # Lambda's frame around the function's output; a cold start reports its init
    lines = first.log_lines
    assert lines[0] == f"START RequestId: {first.request_id} Version: $LATEST"
    assert "cold start of probe" in lines and f"echo {first.request_id}" in lines
    assert lines[-2] == f"END RequestId: {first.request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {first.request_id}\tDuration: ")
    assert "Init Duration" in lines[-1] and first.init_duration_ms and first.init_duration_ms > 0
    assert first.max_memory_mb and first.max_memory_mb > 1

    second = echo.invoke({"n": 2})  # warm: the same process, no init
    assert second.result["event"] == {"n": 2} and second.result["pid"] == result["pid"]
    assert second.init_duration_ms is None and "cold start of probe" not in second.log_lines
    pid = result["pid"]
    echo.stop()
    assert _gone(pid) and not echo.running


def test_an_exception_comes_back_with_its_type_and_message_as_lambda_reports_it(
    interpreter: Interpreter,
) -> None:
    with ImageFunction(["image_probe.boom"], {}, timeout=5, interpreter=interpreter) as function:
        invocation = function.invoke({"coin": "dogecoin"})
        assert invocation.failed
        assert invocation.error_type == "ValueError"
        assert invocation.error_message == "no candles for dogecoin"
        (error,) = [line for line in invocation.log_lines if line.startswith("[ERROR]")]
        assert error.startswith("[ERROR] ValueError: no candles for dogecoin\rTraceback")
        assert function.running  # a handled error keeps the container, as on Lambda


def test_a_handler_past_its_timeout_is_killed_with_a_clear_error(
    interpreter: Interpreter,
) -> None:
    with ImageFunction(["image_probe.sleepy"], {}, timeout=1, interpreter=interpreter) as function:
        started = time.monotonic()
        invocation = function.invoke({})
        elapsed = time.monotonic() - started
        assert invocation.error_type == "Sandbox.Timedout"
        assert invocation.error_message == (
            f"RequestId: {invocation.request_id} Error: Task timed out after 1.00 seconds"
        )
        assert "going to sleep" in invocation.log_lines
        assert invocation.error_message in invocation.log_lines
        assert 1.0 <= elapsed < 8 and not function.running  # killed, not waited for


def test_a_handler_that_cannot_be_imported_fails_with_lambdas_init_error(
    interpreter: Interpreter,
) -> None:
    with ImageFunction(["no_such_module.handler"], {}, timeout=5, interpreter=interpreter) as fn:
        invocation = fn.invoke({})
        assert invocation.error_type == "Runtime.ImportModuleError"
        assert invocation.error_message == (
            "Unable to import module 'no_such_module': No module named 'no_such_module'"
        )
        assert not fn.running


def test_a_process_that_exits_or_answers_too_much_fails_as_on_lambda(
    interpreter: Interpreter,
) -> None:
    with ImageFunction(["image_probe.exits"], {}, timeout=5, interpreter=interpreter) as fn:
        invocation = fn.invoke({})
        assert invocation.error_type == "Runtime.ExitError"
        assert invocation.error_message == (
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status 3"
        )
        assert not fn.running
        assert fn.invoke({}).error_type == "Runtime.ExitError"  # a new process, the same end
    with ImageFunction(["image_probe.too_large"], {}, timeout=5, interpreter=interpreter) as fn:
        invocation = fn.invoke({})
        assert invocation.error_type == "Function.ResponseSizeTooLarge"
        message = str(invocation.error_message)
        assert "exceeded maximum allowed payload size (6291456 bytes)" in message


def _call(api: RuntimeApi, method: str, path: str, body: bytes | None = None) -> Any:
    host, port = api.address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request(method, f"/2018-06-01/runtime/{path}", body)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_the_server_speaks_the_runtime_api() -> None:
    api = RuntimeApi()
    try:
        request = api.submit({"n": 1}, timeout=2, function_arn="arn:aws:lambda:::function:f")
        answer = f"invocation/{request.request_id}/response"
        status, headers, body = _call(api, "POST", answer, b"1")  # before the client took it
        assert status == 400 and json.loads(body)["errorType"] == "InvalidRequestID"
        status, headers, body = _call(api, "GET", "invocation/next")
        assert status == 200 and json.loads(body) == {"n": 1}
        assert headers["Lambda-Runtime-Aws-Request-Id"] == request.request_id
        assert headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:::function:f"
        deadline = int(headers["Lambda-Runtime-Deadline-Ms"]) / 1000
        assert time.time() < deadline <= time.time() + 2
        assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        status, _, body = _call(api, "POST", answer, b'"ok"')
        assert status == 202 and json.loads(body) == {"status": "OK"}
        assert request.answered.is_set() and request.payload == b'"ok"'
        status, _, body = _call(api, "POST", answer, b"2")
        assert status == 400  # answered once only
        assert _call(api, "GET", "invocation/other")[0] == 404
        status, _, _ = _call(api, "POST", "init/error", b'{"errorType": "X", "errorMessage": "m"}')
        assert status == 202 and api.init_error == {"errorType": "X", "errorMessage": "m"}
    finally:
        api.stop()


def test_the_image_runtime_is_opt_in_and_a_bad_setting_is_a_clear_error() -> None:
    assert Interpreter.from_env({}) is None
    assert Interpreter.from_env({IMAGE_RUNTIME_ENV: "in-process"}) is None
    chosen = Interpreter.from_env(
        {IMAGE_RUNTIME_ENV: "subprocess", IMAGE_PYTHON_ENV: "/opt/py312/bin/python",
         IMAGE_PATH_ENV: os.pathsep.join(["/layer", "/runtime"])}
    )  # fmt: skip
    assert chosen == Interpreter("/opt/py312/bin/python", ("/layer", "/runtime"))
    with pytest.raises(BadInputError, match="expected 'subprocess' or 'in-process'"):
        Interpreter.from_env({IMAGE_RUNTIME_ENV: "docker"})


def _reports(stack: LocalStack, run: str) -> dict[str, Any]:
    s3 = stack.client("s3")
    bucket = stack.names["models_bucket"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"reports/{run}/").get("Contents", [])
    return {
        o["Key"]: json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
        for o in listed
    }


@pytest.mark.slow  # one coin trained twice (in-process, then in its own process): ~15-25 s
def test_the_training_state_machine_runs_the_image_function_in_its_own_process(
    tmp_path: Path,
) -> None:
    with LocalStack.start(parameters={"TrackedCoins": "bitcoin"}) as stack:
        bucket = stack.names["models_bucket"]
        history = tmp_path / "bitcoin_5m.csv.gz"
        shutil.copy(sample_path("bitcoin"), history)
        stack.client("s3").upload_file(str(history), bucket, "history/bitcoin_5m.csv.gz")
        train = stack.names["train_function"]
        assert stack.runtime.config(train).package_type == "Image"

        assert stack.runtime.image_interpreter is None  # the default: in-process
        in_process = stack.train(start=1_800_000_000)
        assert in_process.status == "SUCCEEDED", in_process.error_message
        (group,) = in_process.result
        expected = _reports(stack, group["run"])

        stack.runtime.image_interpreter = Interpreter()  # this venv, in a process of its own
        execution = stack.train(start=1_800_000_000)  # the same run: the same report keys
        assert execution.status == "SUCCEEDED", execution.error_message
        (invocation,) = execution.invocations
        assert invocation.function == train and not invocation.failed
        assert execution.result == in_process.result
        assert _reports(stack, group["run"]) == expected  # written again, the same
        assert f"reports/{group['run']}/bitcoin_up_1h_logistic.json" in expected
        assert invocation.log_lines[-1].startswith("REPORT RequestId")
        assert any('"coin trained"' in line for line in invocation.log_lines)  # Powertools
        metrics = stack.client("cloudwatch").list_metrics(Namespace="CryptoSignals")["Metrics"]
        assert "ModelsEarned" in {m["MetricName"] for m in metrics}  # its EMF lines, read
