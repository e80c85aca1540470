"""What the probe handlers were called with: one list shared by every function's copy of
aws_probe_handlers (the runtime gives each function a private copy of its handler module)."""

from typing import Any

CALLS: list[dict[str, Any]] = []
