"""The static check: parse once, refuse every construct outside the whitelist before anything runs."""

from __future__ import annotations

import ast
import functools
from typing import Literal, NamedTuple, cast

from .errors import ExpressionError
from .functions import _METHOD_NAMES, _PROPERTY_NAMES, FORBIDDEN_NAMES
from .grammar import _ALLOWED_NODES, _BINOPS, _DATE_SPEC, _NUMBER_SPEC, _REFUSED_WORDS
from .limits import MAX_DEPTH, MAX_NODES, MAX_SOURCE_CHARS


class _Compiled(NamedTuple):
    tree: ast.AST | None
    problems: tuple[tuple[str, int | None], ...]
    bound: tuple[tuple[str, int], ...]  # every name the code assigns, binds in a loop or deletes


class _Validator:
    """Collects every refused construct, so deploy-time checks can report them all at once."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, int | None]] = []
        self.bound: list[tuple[str, int]] = []
        self.nodes = 0

    def refuse(self, node: ast.AST, message: str) -> None:
        self.problems.append((message, getattr(node, "lineno", None)))

    def visit(self, node: ast.AST, depth: int = 1, in_loop: bool = False, called: bool = False) -> None:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:  # checked first: it also bounds this recursion
            too = f"nested too deeply (more than {MAX_DEPTH} levels)" if depth > MAX_DEPTH else (
                f"too long (more than {MAX_NODES} syntax nodes)")
            raise ExpressionError(too, line=getattr(node, "lineno", None))
        if isinstance(node, ast.operator | ast.unaryop | ast.cmpop | ast.boolop | ast.expr_context):
            return  # checked with their parent node
        if type(node) not in _ALLOWED_NODES:
            return self.refuse(node, f"{_REFUSED_WORDS.get(type(node), type(node).__name__)} is not allowed")
        children: list[ast.AST] = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                self.refuse(node, f"name '{node.id}' is not allowed (names starting with '_' are reserved)")
            elif node.id in FORBIDDEN_NAMES:
                self.refuse(node, f"'{node.id}' is not allowed")
            if not isinstance(node.ctx, ast.Load):
                self.bound.append((node.id, node.lineno))
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in _METHOD_NAMES | _PROPERTY_NAMES:
                self.refuse(node, f"attribute '{node.attr}' is not allowed (read fields as x['{node.attr}'])")
            elif not isinstance(node.ctx, ast.Load):
                self.refuse(node, f"assigning to attribute '{node.attr}' is not allowed")
            elif node.attr not in _PROPERTY_NAMES and not called:
                self.refuse(node, f"method '{node.attr}' can only be called, not used as a value")
        elif isinstance(node, ast.Constant) and type(node.value) not in (str, int, float, bool, type(None)):
            self.refuse(node, f"{type(node.value).__name__} literals are not allowed")
        elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) not in _BINOPS:
            self.refuse(node, f"operator {type(node.op).__name__} is not allowed")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name | ast.Attribute):
                self.visit(node.func, depth + 1, in_loop, called=True)
            else:
                self.refuse(node, "only functions and methods called by name are allowed")
            children = [*node.args, *node.keywords]
        elif isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_"):
            self.refuse(node, f"argument name '{node.arg}' is not allowed")
        elif isinstance(node, ast.For):
            for child in (node.target, node.iter, *node.orelse):
                self.visit(child, depth + 1, in_loop)
            children, in_loop = list(node.body), True
        elif isinstance(node, ast.Break | ast.Continue) and not in_loop:
            self.refuse(node, f"'{type(node).__name__.lower()}' outside a loop")
        elif isinstance(node, ast.comprehension) and node.is_async:
            self.refuse(node, "async comprehensions are not allowed")
        elif isinstance(node, ast.FormattedValue):
            self.check_format_spec(node)
            children = [node.value]
        for child in children:
            self.visit(child, depth + 1, in_loop)

    def check_format_spec(self, node: ast.FormattedValue) -> None:
        parts = node.format_spec.values if isinstance(node.format_spec, ast.JoinedStr) else []
        if not all(isinstance(p, ast.Constant) for p in parts):
            return self.refuse(node, "computed format specs are not allowed")
        text = "".join(str(cast(ast.Constant, p).value) for p in parts)
        if text and not (_NUMBER_SPEC.fullmatch(text) or _DATE_SPEC.fullmatch(text)):
            self.refuse(node, f"format spec '{text}' is not allowed")


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: Literal["eval", "exec"]) -> _Compiled:
    """Parse and validate once per distinct source: the same gateway condition runs thousands of times."""
    if len(source) > MAX_SOURCE_CHARS:
        return _Compiled(None, ((f"too long (more than {MAX_SOURCE_CHARS} characters)", None),), ())
    text = source.strip() if mode == "eval" else source  # BPMN text often carries surrounding whitespace
    try:
        tree = ast.parse(text, mode=mode)
        if mode == "eval":
            ast.increment_lineno(tree, source[: len(source) - len(source.lstrip())].count("\n"))
        validator = _Validator()
        validator.visit(tree)
    except SyntaxError as err:
        return _Compiled(None, ((f"syntax error: {err.msg}", err.lineno),), ())
    except ExpressionError as err:
        return _Compiled(None, ((err.message, err.line),), ())
    except (ValueError, MemoryError, RecursionError):  # null bytes; the parser's own nesting limit
        return _Compiled(None, (("cannot be parsed (nested too deeply or invalid characters)", None),), ())
    return _Compiled(tree, tuple(validator.problems), tuple(validator.bound))
