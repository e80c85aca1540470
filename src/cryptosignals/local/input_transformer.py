"""What an EventBridge target receives: the event, or the input its target settings make of it.

The emulator applies input transformers only to the targets it delivers itself; the local
relay (`cryptosignals.local.api_destinations`) needs the same for API destinations, so it is
written here once, as a pure function of (target, event, rule). What EventBridge documents, and
this does; anything else raises `TransformError` naming it, rather than guessing:

- A target's input is one of: the whole event (no setting), `Input` (a constant), `InputPath`
  (a part of the event) or `InputTransformer` (`InputPathsMap` + `InputTemplate`).
- Paths: `$` followed by `.name` steps (letters, digits, `_`, `-`, `/`) and `[index]` steps.
  No wildcards, filters or bracketed names. A path that matches nothing defines no value: its
  placeholder is replaced by nothing, which breaks an unquoted one, as on AWS.
- A template that starts with `{`, `[` or `"` is JSON. A placeholder inside one of its strings
  gets the value's text (a string without quotes, not escaped: EventBridge does not escape
  extracted values); outside strings it gets the value as JSON (a string with its quotes).
  In any other (text) template every placeholder gets the value's text.
- Predefined variables: `aws.events.rule-name`, `aws.events.rule-arn`, and, outside strings
  only (their JSON is not escaped), `aws.events.event` (the event without `detail`) and
  `aws.events.event.json` (the whole event). `aws.events.event.ingestion-time` is not emulated.
- A JSON template's result must parse as JSON; it is sent minified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cryptosignals.errors import PermanentError

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_STEP = re.compile(r"\.([A-Za-z0-9_\-/]+)|\[(\d+)\]")
#: Predefined variables whose JSON EventBridge inserts unescaped: usable as JSON values only.
_WHOLE_EVENT = ("aws.events.event", "aws.events.event.json")


class TransformError(PermanentError):
    """A target input setting this emulation does not support, or one that cannot work."""


class _Missing:
    """A path that matched nothing: EventBridge defines no value for it."""


_MISSING = _Missing()


def _steps(path: str) -> list[str | int]:
    """`$.detail.price` -> ["detail", "price"]; only the syntax in the module doc."""
    if not path.startswith("$"):
        raise TransformError(f"JSONPath {path!r}: must start with $")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            raise TransformError(
                f"JSONPath {path!r}: only $.name and [index] steps are emulated, "
                f"not {path[position:]!r}"
            )
        name, index = step.groups()
        steps.append(name if name is not None else int(index))
        position = step.end()
    return steps


def extract(event: Any, path: str) -> Any:
    """The value at `path` in the event, or `_MISSING` if the path matches nothing."""
    value = event
    for step in _steps(path):
        found = (
            step in value
            if isinstance(step, str) and isinstance(value, Mapping)
            else isinstance(step, int) and isinstance(value, list) and step < len(value)
        )
        if not found:
            return _MISSING
        value = value[step]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _substitute(name: str, values: Mapping[str, Any], *, as_text: bool) -> str:
    """One placeholder's replacement: the value's text inside strings, its JSON outside."""
    if name not in values:
        raise TransformError(
            f"placeholder <{name}> is neither in InputPathsMap nor a predefined variable "
            "emulated here (see cryptosignals.local.input_transformer)"
        )
    value = values[name]
    if isinstance(value, _Missing):
        return ""
    if not as_text:
        return _json(value)
    if name in _WHOLE_EVENT:
        raise TransformError(f"<{name}> can only be a JSON value, not part of a string")
    return value if isinstance(value, str) else _json(value)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill an InputTemplate's placeholders from `values`, minding JSON strings (module doc)."""
    is_json = template.lstrip()[:1] in ("{", "[", '"')
    out: list[str] = []
    in_string, i = False, 0
    while i < len(template):
        char = template[i]
        if is_json and in_string and char == "\\":
            out.append(template[i : i + 2])
            i += 2
            continue
        placeholder = _PLACEHOLDER.match(template, i) if char == "<" else None
        if placeholder is not None:
            as_text = in_string or not is_json
            out.append(_substitute(placeholder.group(1), values, as_text=as_text))
            i = placeholder.end()
            continue
        if is_json and char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    result = "".join(out)
    if not is_json:
        return result
    try:
        return _json(json.loads(result))
    except ValueError as exc:
        raise TransformError(
            f"the InputTemplate did not produce JSON ({exc}): EventBridge neither escapes "
            "extracted values nor keeps placeholders whose path matched nothing"
        ) from None


def target_input(
    target: Mapping[str, Any], event: Mapping[str, Any], rule_name: str, rule_arn: str
) -> str:
    """The text EventBridge sends a target for an event its rule matched (module doc)."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        value = extract(event, target["InputPath"])
        return "" if isinstance(value, _Missing) else _json(value)
    transformer = target.get("InputTransformer")
    if not transformer:
        return _json(event)
    values: dict[str, Any] = {
        name: extract(event, path) for name, path in transformer.get("InputPathsMap", {}).items()
    }
    values |= {
        "aws.events.rule-name": rule_name,
        "aws.events.rule-arn": rule_arn,
        "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
        "aws.events.event.json": event,
    }
    return render(transformer["InputTemplate"], values)
