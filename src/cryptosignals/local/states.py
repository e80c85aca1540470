"""`StateMachineRunner`: a deployed Step Functions state machine, executed in-process.

moto stores a state machine's definition but never runs it. This reads the definition back
through the API and runs it with our `LambdaRuntime`, so a Task that invokes a function runs its
handler in-process, against the emulator, like every other invocation.

Emulated, from the Amazon States Language, what the template's state machines use and a little
around it: Pass, Task, Map (inline), Choice (And, Or, Not and the comparisons IsPresent, IsNull,
StringEquals, BooleanEquals and the Numeric ones, each against a value), Succeed, Fail, Wait (no
waiting: the clock is virtual);
InputPath, Parameters / ItemSelector, ResultSelector, ResultPath, OutputPath; JSONPath of the form
`$.a.b[0]` and the context object `$$.Execution.*`, `$$.StateMachine.*`, `$$.Map.Item.*`;
the intrinsics States.ArrayPartition, States.StringSplit, States.Array, States.ArrayLength,
States.Format; Task resources `arn:aws:states:::lambda:invoke` (result {"Payload", "StatusCode",
"ExecutedVersion"}) and a function ARN; Retry (immediately: no backoff is waited) and Catch, with
States.ALL and States.TaskFailed. A function's error surfaces with its exception's type as the
error name, as the Lambda integration reports an unhandled error. Map items run one after
another (MaxConcurrency changes nothing here). Anything else (Parallel, a distributed Map,
.sync/.waitForTaskToken, other comparisons or intrinsics) is a clear PermanentError, never a
silent approximation.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptosignals.errors import PermanentError
from cryptosignals.local.emulator import client
from cryptosignals.local.runtime import Invocation, LambdaRuntime

_LAMBDA_INVOKE = re.compile(r"^arn:aws[a-z-]*:states:::lambda:invoke$")
_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[^:]+:\d+:function:[^:]+(:[^:]+)?$")
_TASK_FAILED_EXCLUDES = {"States.Timeout"}


@dataclass
class Execution(Invocation):
    """One execution: `result` is its output, `error_type`/`error_message` its error and cause
    when it failed; `invocations` are the functions its tasks ran, in order."""

    arn: str = ""
    invocations: list[Invocation] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "FAILED" if self.failed else "SUCCEEDED"


class _StatesError(Exception):
    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


# -- JSONPath and intrinsics -------------------------------------------------------------------
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")


def select(document: Any, path: str, context: dict[str, Any]) -> Any:
    """`$`, `$.a.b[0]` on the document or `$$.x.y` on the context object."""
    root, rest = (context, path[2:]) if path.startswith("$$") else (document, path[1:])
    if not path.startswith("$"):
        raise PermanentError(f"JSONPath {path!r}: must start with $")
    value: Any = root
    position = 0
    while position < len(rest):
        match = _STEP.match(rest, position)
        if match is None:
            raise PermanentError(f"JSONPath {path!r}: only $.a.b[0] paths are emulated locally")
        key, index = match.groups()
        try:
            value = value[key] if key is not None else value[int(index)]
        except (KeyError, IndexError, TypeError):
            raise _StatesError(
                "States.Runtime", f"the JSONPath {path!r} could not be found in the input"
            ) from None
        position = match.end()
    return value


def _arguments(text: str) -> list[str]:
    """Split an intrinsic's argument list at its top-level commas."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    last = text[start:].strip()
    return [*parts, last] if last or parts else []


def _argument(text: str, document: Any, context: dict[str, Any]) -> Any:
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text.startswith("$"):
        return select(document, text, context)
    if text.startswith("States."):
        return intrinsic(text, document, context)
    try:
        return json.loads(text)  # numbers, true, false, null
    except ValueError:
        raise PermanentError(f"intrinsic argument {text!r} is not understood") from None


def intrinsic(text: str, document: Any, context: dict[str, Any]) -> Any:
    """Evaluate `States.Name(args)` (nested calls allowed)."""
    match = re.match(r"^(States\.[A-Za-z]+)\((.*)\)$", text.strip(), re.S)
    if match is None:
        raise PermanentError(f"{text!r}: not an intrinsic function call")
    name = match.group(1)
    args = [_argument(a, document, context) for a in _arguments(match.group(2))]
    if name == "States.ArrayPartition":
        items, size = args
        if not isinstance(items, list) or not isinstance(size, int) or size < 1:
            raise _StatesError("States.Runtime", f"{name}: needs an array and a size >= 1")
        return [items[i : i + size] for i in range(0, len(items), size)]
    if name == "States.StringSplit":
        value, delimiters = (str(a) for a in args)
        pieces = re.split("|".join(re.escape(d) for d in delimiters), value)
        return [p for p in pieces if p != ""]
    if name == "States.Array":
        return list(args)
    if name == "States.ArrayLength":
        return len(args[0])
    if name == "States.Format":
        template, *values = args
        out = str(template)
        for value in values:
            rendered = value if isinstance(value, str) else json.dumps(value)
            out = out.replace("{}", rendered, 1)
        return out
    raise PermanentError(f"intrinsic {name} is not emulated locally")


def evaluate_template(template: Any, document: Any, context: dict[str, Any]) -> Any:
    """A Parameters / ItemSelector / ResultSelector template: keys ending in `.$` take a path or
    an intrinsic's value."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise PermanentError(f"{key}: a path or intrinsic must be a string")
                out[key[:-2]] = (
                    intrinsic(value, document, context)
                    if value.startswith("States.")
                    else select(document, value, context)
                )
            else:
                out[key] = evaluate_template(value, document, context)
        return out
    if isinstance(template, list):
        return [evaluate_template(v, document, context) for v in template]
    return copy.deepcopy(template)


def _with_result(raw_input: Any, result: Any, path: str | None) -> Any:
    """ResultPath: `$` (the result replaces the input), None (the input passes), `$.a.b`."""
    if path is None:
        return raw_input
    if path == "$":
        return result
    keys = [m.group(1) for m in _STEP.finditer(path[1:])]
    if not path.startswith("$.") or None in keys:
        raise PermanentError(f"ResultPath {path!r}: only $ or $.a.b is emulated locally")
    out = copy.deepcopy(raw_input) if isinstance(raw_input, dict) else {}
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = result
    return out


# -- the runner --------------------------------------------------------------------------------
class StateMachineRunner:
    """Executes one deployed state machine in-process (what is emulated: this module's doc)."""

    def __init__(self, runtime: LambdaRuntime, arn: str) -> None:
        self.runtime = runtime
        self.arn = arn
        described = client(
            "stepfunctions", runtime.endpoint, runtime.region
        ).describe_state_machine(stateMachineArn=arn)
        self.name: str = described["name"]
        self.definition: dict[str, Any] = json.loads(described["definition"])

    def execute(
        self, input: Any = None, *, name: str | None = None, start: float | None = None
    ) -> Execution:
        """Run to the end; a failure is a failed Execution (its error and cause), never raised
        (only what is not emulated raises)."""
        name = name or str(uuid.uuid4())
        started_at = time.time() if start is None else start
        execution_arn = self.arn.replace(":stateMachine:", ":execution:") + f":{name}"
        document = {} if input is None else input
        context = {
            "Execution": {"Id": execution_arn, "Name": name, "StartTime": _iso(started_at),
                          "Input": document, "RoleArn": ""},
            "StateMachine": {"Id": self.arn, "Name": self.name},
        }  # fmt: skip
        execution = Execution(self.name, execution_arn, arn=execution_arn)
        began = time.perf_counter()
        try:
            execution.result = self._run(self.definition, document, context, execution)
        except _StatesError as exc:
            execution.error_type, execution.error_message = exc.error, exc.cause
        execution.duration_ms = (time.perf_counter() - began) * 1000
        return execution

    def _run(
        self, machine: dict[str, Any], document: Any, context: dict[str, Any], run: Execution
    ) -> Any:
        states = machine["States"]
        current = machine["StartAt"]
        for _ in range(10_000):
            state = states[current]
            context["State"] = {"Name": current, "EnteredTime": _iso(time.time())}
            kind = state["Type"]
            if kind == "Succeed":
                return select(select(document, state.get("InputPath", "$"), context),
                              state.get("OutputPath", "$"), context)  # fmt: skip
            if kind == "Fail":
                raise _StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
            if kind == "Choice":  # no Parameters, no result: the input passes on
                effective = select(document, state.get("InputPath", "$"), context)
                current = _choose(state, effective, context)
                document = select(effective, state.get("OutputPath", "$"), context)
                continue
            try:
                document = self._state(kind, state, document, context, run)
            except _StatesError as exc:
                caught = self._catch(state, exc)
                if caught is None:
                    raise
                target, path = caught
                error = {"Error": exc.error, "Cause": exc.cause}
                document = _with_result(document, error, path)
                current = target
                continue
            if state.get("End"):
                return document
            current = state["Next"]
        raise PermanentError(f"{self.name}: more than 10,000 state transitions")

    @staticmethod
    def _catch(state: dict[str, Any], exc: _StatesError) -> tuple[str, str | None] | None:
        for catcher in state.get("Catch", []):
            if _matches(catcher["ErrorEquals"], exc.error):
                return catcher["Next"], catcher.get("ResultPath", "$")
        return None

    def _state(
        self, kind: str, state: dict[str, Any], raw: Any, context: dict[str, Any], run: Execution
    ) -> Any:
        effective = select(raw, state.get("InputPath", "$"), context)
        if kind == "Wait":
            result = effective
        elif kind == "Pass":
            if "Result" in state:
                result = copy.deepcopy(state["Result"])
            elif "Parameters" in state:
                result = evaluate_template(state["Parameters"], effective, context)
            else:
                result = effective
        elif kind == "Task":
            payload = (
                evaluate_template(state["Parameters"], effective, context)
                if "Parameters" in state
                else effective
            )
            result = self._retrying(state, lambda: self._task(state["Resource"], payload, run))
        elif kind == "Map":
            result = self._map(state, effective, context, run)
        else:
            raise PermanentError(f"state type {kind} is not emulated locally")
        if "ResultSelector" in state:
            result = evaluate_template(state["ResultSelector"], result, context)
        output = _with_result(raw, result, state.get("ResultPath", "$"))
        return select(output, state.get("OutputPath", "$"), context)

    def _retrying(self, state: dict[str, Any], call: Any) -> Any:
        attempts: dict[int, int] = {}
        while True:
            try:
                return call()
            except _StatesError as exc:
                for k, retrier in enumerate(state.get("Retry", [])):
                    if _matches(retrier["ErrorEquals"], exc.error):
                        attempts[k] = attempts.get(k, 0) + 1
                        if attempts[k] <= int(retrier.get("MaxAttempts", 3)):
                            break  # again, at once: the backoff is not waited for locally
                        raise
                else:
                    raise

    def _task(self, resource: str, payload: Any, run: Execution) -> Any:
        if _LAMBDA_INVOKE.match(resource):
            if not isinstance(payload, dict) or "FunctionName" not in payload:
                raise PermanentError("lambda:invoke needs Parameters with FunctionName")
            invocation = self.runtime.invoke(payload["FunctionName"], payload.get("Payload", {}))
            wrap = True
        elif _FUNCTION_ARN.match(resource):
            invocation = self.runtime.invoke(resource, payload)
            wrap = False
        else:
            raise PermanentError(f"Task resource {resource!r} is not emulated locally")
        run.invocations.append(invocation)
        if invocation.failed:
            cause = {"errorType": invocation.error_type, "errorMessage": invocation.error_message}
            raise _StatesError(str(invocation.error_type), json.dumps(cause))
        if not wrap:
            return invocation.result
        return {"ExecutedVersion": "$LATEST", "Payload": invocation.result, "StatusCode": 200}

    def _map(
        self, state: dict[str, Any], effective: Any, context: dict[str, Any], run: Execution
    ) -> list[Any]:
        for unsupported in ("ItemReader", "ResultWriter", "ItemBatcher",
                            "ToleratedFailurePercentage", "ToleratedFailureCount"):  # fmt: skip
            if unsupported in state:
                raise PermanentError(f"Map {unsupported} is not emulated locally")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is None:
            raise PermanentError("a Map state needs an ItemProcessor")
        if processor.get("ProcessorConfig", {}).get("Mode", "INLINE") != "INLINE":
            raise PermanentError("only inline Map states are emulated locally")
        items = select(effective, state.get("ItemsPath", "$"), context)
        if not isinstance(items, list):
            raise _StatesError("States.Runtime", "the Map state's items are not an array")
        selector = state.get("ItemSelector", state.get("Parameters"))
        results = []
        for index, value in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": value}}}
            item = value if selector is None else evaluate_template(selector, effective,
                                                                    item_context)  # fmt: skip
            results.append(self._run(processor, item, item_context, run))
        return results


_COMPARISONS = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
    "NumericEquals": lambda a, b: _number(a) and a == b,
    "NumericLessThan": lambda a, b: _number(a) and a < b,
    "NumericGreaterThan": lambda a, b: _number(a) and a > b,
    "NumericLessThanEquals": lambda a, b: _number(a) and a <= b,
    "NumericGreaterThanEquals": lambda a, b: _number(a) and a >= b,
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _holds(rule: dict[str, Any], document: Any, context: dict[str, Any]) -> bool:
    """Whether one Choice rule holds for the document (a missing Variable: only IsPresent
    false holds, as on AWS, where comparing a missing field is false)."""
    if "And" in rule:
        return all(_holds(r, document, context) for r in rule["And"])
    if "Or" in rule:
        return any(_holds(r, document, context) for r in rule["Or"])
    if "Not" in rule:
        return not _holds(rule["Not"], document, context)
    try:
        value, present = select(document, rule["Variable"], context), True
    except _StatesError:
        value, present = None, False
    if "IsPresent" in rule:
        return present is bool(rule["IsPresent"])
    if "IsNull" in rule:
        return present and (value is None) is bool(rule["IsNull"])
    known = [name for name in _COMPARISONS if name in rule]
    if len(known) != 1:
        raise PermanentError(f"Choice rule {sorted(rule)}: not emulated locally")
    return present and bool(_COMPARISONS[known[0]](value, rule[known[0]]))


def _choose(state: dict[str, Any], document: Any, context: dict[str, Any]) -> str:
    for rule in state["Choices"]:
        if _holds(rule, document, context):
            return str(rule["Next"])
    if "Default" in state:
        return str(state["Default"])
    raise _StatesError("States.NoChoiceMatched", "no Choice rule matched and there is no Default")


def _matches(names: list[str], error: str) -> bool:
    return (
        "States.ALL" in names
        or error in names
        or ("States.TaskFailed" in names and error not in _TASK_FAILED_EXCLUDES)
    )
