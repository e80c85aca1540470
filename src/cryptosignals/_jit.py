"""Optional numba compilation for the numeric kernels: one source, compiled when possible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_njit: Any
try:  # pragma: no cover - depends on the environment
    from numba import njit as _njit
except ImportError:  # pragma: no cover
    _njit = None

COMPILED = _njit is not None


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile with numba when installed; otherwise run the same function as plain Python.

    The interpreted function stays reachable as `.py_func` either way.
    """
    if _njit is None:
        fn.py_func = fn  # type: ignore[attr-defined]
        return fn
    return _njit(cache=True, nogil=True)(fn)  # type: ignore[no-any-return]
