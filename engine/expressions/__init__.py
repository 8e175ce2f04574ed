"""The expression sandbox: every gateway condition, timer expression, script task and DMN cell runs here.

Process files are written by department designers, so they must never run arbitrary Python. Source is
parsed with ``ast``, checked against a whitelist and then interpreted node by node: no ``eval``/``exec``
ever sees it. Limits on source, tree, steps and produced sizes make runaway code fail fast, not hang.

The package, by concept: ``grammar`` (the allowed Python subset), ``validator`` (the static check, once
per source), ``functions`` (what may be called), ``limits`` (sizes and their measures), ``interpreter``
(the tree walker), ``errors`` and ``sandbox`` (the entry point).
"""

from .errors import ExpressionError
from .functions import _BUILTINS, FORBIDDEN_NAMES
from .limits import MAX_DEPTH, MAX_INT_BITS, MAX_NODES, MAX_SIZE, MAX_SOURCE_CHARS, UNITS_PER_STEP
from .sandbox import Sandbox
from .validator import _compile

__all__ = [
    "FORBIDDEN_NAMES", "MAX_DEPTH", "MAX_INT_BITS", "MAX_NODES", "MAX_SIZE", "MAX_SOURCE_CHARS",
    "UNITS_PER_STEP", "ExpressionError", "Sandbox", "_BUILTINS", "_compile",
]
