"""An image function's container without Docker: AWS's runtime client in a process of its own.

AWS's Lambda base images run a function through the runtime interface client: the image's
entry point is `python -m awslambdaric <CMD>`, which imports the handler, asks the Lambda
Runtime API at `AWS_LAMBDA_RUNTIME_API` for the next event and posts back the handler's
response or error. `RuntimeApi` is that API on 127.0.0.1 (one container's, a free port, stdlib
`http.server` in a thread); `ImageFunction` is the container: the client in a subprocess with
the function's environment, on a chosen interpreter and package folders (the image's layer).

    with ImageFunction(["cryptosignals.handlers.train.handler"], environment, timeout=900,
                       interpreter=Interpreter("/usr/bin/python3.12", ("layer",))) as function:
        invocation = function.invoke({"coins": ["bitcoin"]})   # an ImageInvocation

The API as AWS's reference and the client's source describe it (2018-06-01):
- GET  /runtime/invocation/next: 200 with the event (application/json) and the headers
  Lambda-Runtime-Aws-Request-Id, -Deadline-Ms (Unix ms), -Invoked-Function-Arn, -Trace-Id;
  it waits until there is an event (the client's request has no timeout).
- POST /runtime/invocation/{id}/response and /error: 202 {"status": "OK"}; an unknown or
  already answered id: 400 InvalidRequestID; a response over 6 MB: 413, and the invocation
  fails with Function.ResponseSizeTooLarge. An error body is {errorMessage, errorType,
  requestId, stackTrace}; its type and message are the invocation's, as Lambda reports them.
- POST /runtime/init/error: 202; the invocation fails with the init error (e.g.
  Runtime.ImportModuleError) and the client exits.
- A client that exits without answering: Runtime.ExitError. A handler past the function's
  timeout is killed: Sandbox.Timedout, "Task timed out after N.00 seconds". Either way the
  next invocation starts a new process (a cold start), as Lambda starts a new sandbox.
Lambda's START/END/REPORT lines (with Init Duration and Max Memory Used: the process's peak
resident memory, VmHWM) frame the invocation's log lines, which are the client's stdout and
stderr. Not emulated: SnapStart's restore endpoints, response streaming, extensions and the
telemetry log framing (the client logs to stdout when no telemetry descriptor is given).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptosignals.errors import BadInputError
from cryptosignals.local.emulator import ACCOUNT_ID, REGION
from cryptosignals.local.runtime import Invocation

#: Opt-in switch of `LambdaRuntime` for PackageType Image functions: "subprocess" runs them
#: here; unset or "in-process" keeps the in-process runtime (fast; the default).
IMAGE_RUNTIME_ENV = "CRYPTOSIGNALS_LOCAL_IMAGE_RUNTIME"
#: The interpreter of the image's runtime (default: this one) and its package folders
#: (os.pathsep-separated, put on PYTHONPATH; default none: the interpreter's own site-packages).
IMAGE_PYTHON_ENV = "CRYPTOSIGNALS_LOCAL_IMAGE_PYTHON"
IMAGE_PATH_ENV = "CRYPTOSIGNALS_LOCAL_IMAGE_PATH"

API_VERSION = "2018-06-01"
#: Lambda's limit on a synchronous invocation's response.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
#: How long Lambda gives a function's init phase before it counts against the invocation.
INIT_SECONDS = 10.0
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Interpreter:
    """The Python an image's runtime runs on: an interpreter and its package folders."""

    python: str = sys.executable
    path: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Interpreter | None:
        """The interpreter `IMAGE_RUNTIME_ENV=subprocess` asks for, else None (in-process)."""
        env = os.environ if environ is None else environ
        mode = env.get(IMAGE_RUNTIME_ENV, "").strip().lower()
        if mode in ("", "in-process", "inprocess"):
            return None
        if mode != "subprocess":
            raise BadInputError(
                f"{IMAGE_RUNTIME_ENV}={mode!r}: expected 'subprocess' or 'in-process'"
            )
        paths = tuple(p for p in env.get(IMAGE_PATH_ENV, "").split(os.pathsep) if p)
        return cls(env.get(IMAGE_PYTHON_ENV) or sys.executable, paths)


# --------------------------------------------------------------------------- the Runtime API
@dataclass
class _Request:
    """One invocation handed to the runtime API: the event, then the client's answer."""

    request_id: str
    body: bytes
    timeout: float
    function_arn: str
    handed_at: float | None = None  # monotonic, when the client took it from /next
    status: str | None = None  # "response" | "error" once answered
    payload: bytes = b""
    error_type_header: str | None = None

    def __post_init__(self) -> None:
        self.answered = threading.Event()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: RuntimeApi) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed client's, expected
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's curl handle expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the invocation's logs are the client's output, not the server's

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document: Mapping[str, str]) -> None:
        body = json.dumps(document).encode()
        self._send(status, body, {"Content-Type": "application/json"})

    def _error(self, status: int, error_type: str, message: str) -> None:
        self._json(status, {"errorMessage": message, "errorType": error_type})

    def do_GET(self) -> None:
        api = self.server.api
        if self.path == f"/{API_VERSION}/runtime/invocation/next":
            request = api._next_request()
            if request is None:  # the server is stopping: drop the connection
                self.close_connection = True
                return
            deadline_ms = int((time.time() + request.timeout) * 1000)
            self._send(
                HTTPStatus.OK,
                request.body,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": request.function_arn,
                    "Lambda-Runtime-Trace-Id": _trace_id(),
                },
            )
            return
        self._error(HTTPStatus.NOT_FOUND, "NotFound", f"no such resource: GET {self.path}")

    def do_POST(self) -> None:
        api = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        prefix = f"/{API_VERSION}/runtime/"
        if self.path == prefix + "init/error":
            api._init_failed(body, error_type)
            self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        parts = self.path[len(prefix) :].split("/") if self.path.startswith(prefix) else []
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response", "error"):
            self._error(HTTPStatus.NOT_FOUND, "NotFound", f"no such resource: POST {self.path}")
            return
        request = api._open_request(parts[1])
        if request is None:
            message = f"unknown or already answered request id {parts[1]}"
            self._error(HTTPStatus.BAD_REQUEST, "InvalidRequestID", message)
            return
        if parts[2] == "response" and len(body) > MAX_RESPONSE_BYTES:
            message = (
                f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload "
                f"size ({MAX_RESPONSE_BYTES} bytes)."
            )
            error = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
            api._answer(request, "error", json.dumps(error).encode(), error["errorType"])
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge", message)
            return
        api._answer(request, parts[2], body, error_type)
        self._json(HTTPStatus.ACCEPTED, {"status": "OK"})


def _trace_id() -> str:
    """An X-Ray trace header of the shape Lambda passes (not sampled)."""
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"


class RuntimeApi:
    """The Lambda Runtime API of one container on 127.0.0.1 (a free port), in a thread.

    `submit(event)` queues an invocation for the client's next GET /next; the client's POST
    answers it (`request.answered` is set). `init_error` is what the client posted to
    /init/error, if it did; `first_next` is set when the client first asked for an event (its
    init is over).
    """

    def __init__(self) -> None:
        self._events: queue.Queue[_Request] = queue.Queue()
        self._open: dict[str, _Request] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.first_next = threading.Event()
        self.first_next_at: float | None = None
        self.init_error: dict[str, Any] | None = None
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def submit(self, event: Any, *, timeout: float, function_arn: str) -> _Request:
        body = json.dumps(event).encode()
        request = _Request(str(uuid.uuid4()), body, timeout, function_arn)
        with self._lock:
            self._open[request.request_id] = request
        self._events.put(request)
        return request

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- called by the request handler ---------------------------------------------------
    def _next_request(self) -> _Request | None:
        if not self.first_next.is_set():
            self.first_next_at = time.monotonic()
            self.first_next.set()
        while not self._stopping.is_set():
            try:
                request = self._events.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            request.handed_at = time.monotonic()
            return request
        return None

    def _open_request(self, request_id: str) -> _Request | None:
        with self._lock:
            request = self._open.get(request_id)
            return request if request is not None and request.handed_at is not None else None

    def _answer(
        self, request: _Request, status: str, payload: bytes, error_type: str | None
    ) -> None:
        with self._lock:
            self._open.pop(request.request_id, None)
        request.status, request.payload, request.error_type_header = status, payload, error_type
        request.answered.set()

    def _init_failed(self, body: bytes, error_type: str | None) -> None:
        try:
            document = json.loads(body)
        except ValueError:
            document = {"errorMessage": body.decode(errors="replace")}
        if not isinstance(document, dict):
            document = {"errorMessage": str(document)}
        document.setdefault("errorType", error_type or "Runtime.Unknown")
        self.init_error = document


# ------------------------------------------------------------------------------ the container
@dataclass
class ImageInvocation(Invocation):
    """An Invocation of an image function's process, with Lambda's REPORT figures."""

    init_duration_ms: float | None = None  # a cold start's: process start -> first GET /next
    max_memory_mb: float | None = None  # the process's peak resident memory so far (VmHWM)


def _peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set size (Linux /proc; None elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class ImageFunction:
    """An image function's container: `python -m awslambdaric <command>` against a RuntimeApi.

    The process starts on the first `invoke` (the cold start) and stays for the next ones, as
    a warm Lambda container does; a timeout, an init error or an exit ends it, and the next
    invocation starts a new one. `stop()` (or leaving the `with` block) ends everything.
    `environment` is the whole environment of the process apart from what Lambda's runtime
    sets (AWS_LAMBDA_RUNTIME_API, _HANDLER, the task root, PYTHONPATH for `interpreter.path`):
    the test process's own variables do not leak in.
    """

    def __init__(
        self,
        command: Sequence[str],
        environment: Mapping[str, str],
        *,
        name: str = "function",
        arn: str | None = None,
        timeout: float = 3.0,
        memory: int = 128,
        interpreter: Interpreter | None = None,
    ) -> None:
        if not command or not all(isinstance(c, str) and c for c in command):
            raise BadInputError(f"{name}: an image function needs a command (its handler)")
        self.command = list(command)
        self.environment = dict(environment)
        self.name = name
        self.arn = arn or f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        self.timeout = float(timeout)
        self.memory = memory
        self.interpreter = interpreter or Interpreter()
        self._api: RuntimeApi | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._task_root: tempfile.TemporaryDirectory[str] | None = None
        self._log: Any = None
        self._log_offset = 0
        self._started_at = 0.0
        self._cold = False

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _process_environment(self, api: RuntimeApi, task_root: str) -> dict[str, str]:
        python_bin = str(Path(self.interpreter.python).parent)
        day = time.strftime("%Y/%m/%d")
        path = (
            {"PYTHONPATH": os.pathsep.join(self.interpreter.path)} if self.interpreter.path else {}
        )
        return {
            "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": task_root,
            "_HANDLER": self.command[0],
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{day}/[$LATEST]{uuid.uuid4().hex}",
            **self.environment,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            **path,
        }

    def start(self) -> None:
        """Start the runtime API and the client process (the container's cold start)."""
        if self.running:
            return
        self.stop()
        self._api = RuntimeApi()
        self._task_root = tempfile.TemporaryDirectory(prefix=f"lambda-{self.name}-task-")
        self._log = tempfile.TemporaryFile(  # noqa: SIM115 - lives as long as the process
            prefix=f"lambda-{self.name}-", suffix=".log"
        )
        self._log_offset = 0
        self._started_at = time.monotonic()
        self._cold = True
        try:
            self._process = subprocess.Popen(
                [self.interpreter.python, "-m", "awslambdaric", *self.command],
                env=self._process_environment(self._api, self._task_root.name),
                cwd=self._task_root.name,  # the image's empty task root, never the caller's
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes all it started
            )
        except OSError as exc:
            self.stop()
            message = f"{self.name}: cannot start {self.interpreter.python}: {exc}"
            raise BadInputError(message) from exc

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """Kill the process (and its group) and stop the runtime API; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            self._kill(process)
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._task_root is not None:
            self._task_root.cleanup()
            self._task_root = None

    def __enter__(self) -> ImageFunction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- invoking ----------------------------------------------------------------------------
    def _new_output(self) -> list[str]:
        if self._log is None:
            return []
        self._log.seek(self._log_offset)
        data = self._log.read()
        self._log_offset += len(data)
        # "\n" only: the client joins an error's lines with "\r" into one log event
        return data.decode(errors="replace").removesuffix("\n").split("\n") if data else []

    def invoke(self, event: Any) -> ImageInvocation:
        """Hand `event` to the client and wait for its response, its error or the timeout."""
        self.start()
        api, process = self._api, self._process
        assert api is not None and process is not None
        started = time.monotonic()
        request = api.submit(event, timeout=self.timeout, function_arn=self.arn)
        invocation = ImageInvocation(self.name, request.request_id)
        failure = self._wait(api, process, request)
        ended = time.monotonic()
        cold, self._cold = self._cold, False
        invocation.max_memory_mb = _peak_rss_mb(process.pid) if process.poll() is None else None
        if failure is not None:
            self._kill(process)  # as Lambda stops a sandbox that timed out or failed its init
        if failure is not None:
            invocation.error_type, invocation.error_message = failure
        elif request.status == "error":
            _error_from(invocation, request.payload, request.error_type_header)
        else:
            text = request.payload.decode(errors="replace")
            try:
                invocation.result = json.loads(text) if text else None
            except ValueError:
                invocation.result = text
        handed = request.handed_at
        if cold and api.first_next_at is not None:
            invocation.init_duration_ms = (api.first_next_at - self._started_at) * 1000
        invocation.duration_ms = (ended - (handed if handed is not None else started)) * 1000
        invocation.log_lines = self._framed(invocation, self._new_output())
        if failure is not None or not self.running:
            self.stop()  # Lambda resets a sandbox after a timeout or a crash
        return invocation

    def _wait(
        self, api: RuntimeApi, process: subprocess.Popen[bytes], request: _Request
    ) -> tuple[str, str] | None:
        """None once the client answered; else (error type, message) of what went wrong."""
        give_up_init = time.monotonic() + INIT_SECONDS + self.timeout
        while not request.answered.wait(_POLL_SECONDS):
            now = time.monotonic()
            if api.init_error is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=2)  # the client exits once its error is accepted
                error = api.init_error
                return str(error.get("errorType")), str(error.get("errorMessage", ""))
            if process.poll() is not None:
                code = process.returncode
                status = f"exit status {code}"
                if code < 0:  # Lambda's wording: "signal: killed"
                    status = f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
                return (
                    "Runtime.ExitError",
                    f"RequestId: {request.request_id} Error: Runtime exited with error: {status}",
                )
            handed = request.handed_at
            if (handed is None and now > give_up_init) or (
                handed is not None and now > handed + self.timeout
            ):
                return (
                    "Sandbox.Timedout",
                    f"RequestId: {request.request_id} Error: Task timed out after "
                    f"{self.timeout:.2f} seconds",
                )
        return None

    def _framed(self, invocation: ImageInvocation, lines: list[str]) -> list[str]:
        """The output between Lambda's START line and its END and REPORT lines."""
        rid = invocation.request_id
        report = (
            f"REPORT RequestId: {rid}\tDuration: {invocation.duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(invocation.duration_ms)} ms\t"
            f"Memory Size: {self.memory} MB"
        )
        if invocation.max_memory_mb is not None:
            report += f"\tMax Memory Used: {math.ceil(invocation.max_memory_mb)} MB"
        if invocation.init_duration_ms is not None:
            report += f"\tInit Duration: {invocation.init_duration_ms:.2f} ms"
        if invocation.error_type == "Sandbox.Timedout":
            lines = [*lines, f"{invocation.error_message}"]
        if invocation.error_type == "Runtime.ExitError":
            lines = [*lines, f"{invocation.error_message}"]
        return [f"START RequestId: {rid} Version: $LATEST", *lines, f"END RequestId: {rid}", report]


def _error_from(invocation: Invocation, payload: bytes, header: str | None) -> None:
    """The error the client posted ({errorType, errorMessage, ...}) onto the invocation."""
    try:
        document = json.loads(payload)
    except ValueError:
        document = {"errorMessage": payload.decode(errors="replace")}
    if not isinstance(document, dict):
        document = {"errorMessage": str(document)}
    invocation.error_type = str(document.get("errorType") or header or "Runtime.Unknown")
    invocation.error_message = str(document.get("errorMessage", ""))


__all__ = [
    "IMAGE_PATH_ENV",
    "IMAGE_PYTHON_ENV",
    "IMAGE_RUNTIME_ENV",
    "ImageFunction",
    "ImageInvocation",
    "Interpreter",
    "RuntimeApi",
]
