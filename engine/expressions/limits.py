"""Size limits, and the measures that keep one C-level call from doing unbounded work."""

from __future__ import annotations

from typing import Any

from .errors import ExpressionError

MAX_SOURCE_CHARS = 20_000
MAX_NODES = 5_000
MAX_DEPTH = 100  # of the syntax tree; the interpreter recurses about three frames per level
MAX_SIZE = 100_000  # items of a produced list/dict/set/tuple, characters of a produced string
MAX_INT_BITS = 10_000  # about 3,000 digits: beyond that arithmetic and str() get slow
# Touching n items or characters costs n // 10 steps on top of the node's own: a step of interpreted
# code takes about a microsecond, about what C needs to copy, compare or measure ten items.
UNITS_PER_STEP = 10

_CONTAINERS = list | tuple | dict | set | frozenset
_SEQUENCES = str | list | tuple


def _too_large(number: bool = False) -> ExpressionError:
    if number:
        return ExpressionError(f"number is too large (more than {MAX_INT_BITS} bits)")
    return ExpressionError(f"result is too large (more than {MAX_SIZE} items or characters)")


def _check_size(value: Any) -> Any:
    if isinstance(value, _CONTAINERS | str) and len(value) > MAX_SIZE:
        raise _too_large()
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _too_large(number=True)
    return value



def _weight(value: Any, cap: int, seen: dict[int, int] | None = None) -> int:
    """Items plus characters met walking `value` deeply, shared parts counted each time they appear.

    Shared parts are measured once (memoised by id), so [[0] * 10**5] * 10**5 takes 2 * 10**5 visits
    to be found 10**10 items big. Stops once past cap; a cycle counts as past cap.
    """
    seen = {} if seen is None else seen
    if id(value) in seen:
        return seen[id(value)] if seen[id(value)] >= 0 else cap + 1
    seen[id(value)] = -1
    total = 1
    for item in (*value.keys(), *value.values()) if isinstance(value, dict) else value:
        if isinstance(item, str):
            total += 1 + len(item)
        elif isinstance(item, _CONTAINERS):
            total += _weight(item, cap, seen)
        else:
            total += 1 + (item.bit_length() // 4 if isinstance(item, int) else 0)
        if total > cap:
            break
    seen[id(value)] = total
    return total
