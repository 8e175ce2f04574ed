"""What expressions may call: the built-in functions (some bounded by wrappers) and methods by receiver type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from .errors import ExpressionError
from .limits import MAX_SIZE

FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals", "vars",
    "compile", "type", "object", "super", "input", "breakpoint", "exit", "quit",
})
# Methods and readable attributes by receiver type; the first isinstance match wins (datetime before
# date). Each is side-effect free or bounded, and none leads to another object's internals.
_Table = tuple[tuple[type, frozenset[str]], ...]
_METHODS: _Table = (
    (str, frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
                     "join", "replace", "title", "capitalize", "isdigit", "count", "find"})),
    (list, frozenset({"count", "index", "append"})),
    (tuple, frozenset({"count", "index"})),
    (dict, frozenset({"get", "keys", "values", "items"})),
    (datetime, frozenset({"isoformat", "date", "weekday", "isoweekday"})),
    (date, frozenset({"isoformat", "weekday", "isoweekday"})),
    (timedelta, frozenset({"total_seconds"})),
)
_PROPERTIES: _Table = (
    (datetime, frozenset({"year", "month", "day", "hour", "minute", "second"})),
    (date, frozenset({"year", "month", "day"})),
    (timedelta, frozenset({"days", "seconds"})),
)
_METHOD_NAMES = frozenset().union(*(names for _, names in _METHODS))
_PROPERTY_NAMES = frozenset().union(*(names for _, names in _PROPERTIES))
_SHALLOW_BUILTINS = frozenset({"len", "list", "tuple", "enumerate", "zip", "range"})  # never walk items


def _range(*args: int) -> range:
    result = range(*args)
    try:
        too_long = len(result) > MAX_SIZE
    except OverflowError:  # len(range(10**20)) does not fit a C integer
        too_long = True
    if too_long:
        raise ExpressionError(f"range() is too long (more than {MAX_SIZE} items)")
    return result


def _sum(items: Any, start: Any = 0) -> Any:
    if not isinstance(start, int | float):  # sum(lists, []) copies quadratically
        raise ExpressionError("sum() adds numbers only")
    return sum(items, start)


def _round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and abs(ndigits) > 400:  # round(5, -10**9) computes 10**(10**9) first
        raise ExpressionError("round() ndigits is out of range")
    return round(number, ndigits)


_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "str": str, "int": int, "float": float, "bool": bool, "abs": abs, "min": min, "max": max,
    "sum": _sum, "round": _round, "sorted": sorted, "any": any, "all": all, "range": _range, "list": list,
    "dict": dict, "set": set, "tuple": tuple, "enumerate": enumerate, "zip": zip,
}


def _members(obj: Any, table: _Table) -> frozenset[str]:
    return next((names for kind, names in table if isinstance(obj, kind)), frozenset())
