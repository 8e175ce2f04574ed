"""The expression sandbox: every gateway condition, timer expression, script task and DMN cell runs here.

Process files are written by department designers, so they must never run arbitrary Python. Source is
parsed with ``ast``, checked against a whitelist and then interpreted node by node: no ``eval``/``exec``
ever sees it. Limits on source, tree, steps and produced sizes make runaway code fail fast, not hang.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple, cast

from .errors import EngineError

MAX_SOURCE_CHARS = 20_000
MAX_NODES = 5_000
MAX_DEPTH = 100  # of the syntax tree; the interpreter recurses about three frames per level
MAX_SIZE = 100_000  # items of a produced list/dict/set/tuple, characters of a produced string
MAX_INT_BITS = 10_000  # about 3,000 digits: beyond that arithmetic and str() get slow
# Touching n items or characters costs n // 10 steps on top of the node's own: a step of interpreted
# code takes about a microsecond, about what C needs to copy, compare or measure ten items.
UNITS_PER_STEP = 10

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
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_UNARYOPS: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ALLOWED_NODES = frozenset({
    ast.Expression, ast.Module, ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice,
    ast.BoolOp, ast.Compare, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.List, ast.Tuple, ast.Dict, ast.Set,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr,
    ast.FormattedValue, ast.Call, ast.keyword, ast.Starred, ast.Assign, ast.AugAssign, ast.If, ast.For,
    ast.Break, ast.Continue, ast.Pass, ast.Expr, ast.Delete,
})
_REFUSED_WORDS: dict[type, str] = {
    ast.Import: "import", ast.ImportFrom: "import", ast.Lambda: "lambda", ast.FunctionDef: "def",
    ast.AsyncFunctionDef: "async def", ast.ClassDef: "class", ast.Try: "try", ast.TryStar: "try",
    ast.With: "with", ast.AsyncWith: "async with", ast.AsyncFor: "async for", ast.Global: "global",
    ast.Nonlocal: "nonlocal", ast.Raise: "raise", ast.Return: "return", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Await: "await", ast.Assert: "assert", ast.NamedExpr: "':='",
    ast.Match: "match", ast.AnnAssign: "annotated assignment",
    ast.While: "while (loop with for ... in range(...) instead)",
}
# Small-width number/text specs or strftime-style date specs only: '>999999999' would build a
# gigabyte string inside one C call, where no step limit can stop it.
_NUMBER_SPEC = re.compile(r"(.?[<>=^])?[-+ ]?#?0?\d{0,3}[,_]?(\.\d{1,2})?[bcdeEfFgGnosxX%]?")
_DATE_SPEC = re.compile(r"(%[a-zA-Z]|[-/:., T])+")
_CONTAINERS = list | tuple | dict | set | frozenset
_SEQUENCES = str | list | tuple
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
_SHALLOW_BUILTINS = frozenset({"len", "list", "tuple", "enumerate", "zip", "range"})  # never walk items


class ExpressionError(EngineError):
    """A process expression or script was refused or failed."""

    status = 422
    code = "expression_error"

    def __init__(self, message: str, *, source: str = "", element: str | None = None,
                 line: int | None = None, kind: str = "expression") -> None:
        message = " ".join(message.splitlines()) or "failed"
        super().__init__(message if len(message) <= 300 else message[:297] + "...")
        self.source, self.element, self.line, self.kind = source, element, line, kind

    def __str__(self) -> str:
        where = f"{self.kind} '{self.element}': " if self.element else ""
        return f"{where}{self.message}" + (f" (line {self.line})" if self.line is not None else "")

    @property
    def details(self) -> object:
        return {"element": self.element, "line": self.line}


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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"key {exc.args[0]!r} not found" if exc.args else "key not found"
    if isinstance(exc, RecursionError | MemoryError):
        return "nested too deeply" if isinstance(exc, RecursionError) else "out of memory"
    if isinstance(exc, OverflowError):
        return f"number out of range ({exc})"
    if isinstance(exc, TypeError | ValueError | ArithmeticError | IndexError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


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


class Sandbox:
    """Evaluates process expressions and runs process scripts without ever handing them to Python.

    Where it differs from Python, on purpose: generator expressions and dict keys()/values()/items()
    give lists, and functions cannot be stored in variables, because results end up in task data,
    which must serialise. A script that fails may already have changed `context`: the caller's
    transaction is what rolls it back.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None, *,
                 max_steps: int = 100_000) -> None:
        for name in functions or {}:
            if not name.isidentifier() or name.startswith("_") or name in FORBIDDEN_NAMES:
                raise ValueError(f"helper function name {name!r} is not usable in expressions")
        self._callables: dict[str, Callable[..., Any]] = {**_BUILTINS, **(functions or {})}
        self._helpers = frozenset(functions or {})
        self._allowed = frozenset(id(f) for f in self._callables.values())
        self.max_steps = max_steps

    def check(self, source: str, *, mode: Literal["eval", "exec"]) -> list[str]:
        """Static problems (syntax, forbidden constructs) without running; [] when fine. For deploy time."""
        if not isinstance(source, str):
            return [f"must be text, not {type(source).__name__}"]
        return [str(ExpressionError(m, line=line)) for m, line in self._problems(_compile(source, mode))]

    def evaluate(self, source: str, context: Mapping[str, Any], *, element: str | None = None) -> Any:
        return self._run(source, "eval", context, element)

    def execute(self, source: str, context: dict[str, Any], *, element: str | None = None) -> None:
        """Runs a script; assignments to top-level names are written into `context` (mutated in place)."""
        self._run(source, "exec", context, element)

    def _problems(self, compiled: _Compiled) -> list[tuple[str, int | None]]:
        shadowing = [(f"'{name}' names a function; use another variable name", line)
                     for name, line in compiled.bound if name in self._callables]
        return [*compiled.problems, *shadowing]

    def _run(self, source: str, mode: Literal["eval", "exec"], context: Mapping[str, Any],
             element: str | None) -> Any:
        kind = "expression" if mode == "eval" else "script task"
        try:
            if not isinstance(source, str):
                raise ExpressionError(f"must be text, not {type(source).__name__}")
            compiled = _compile(source, mode)
            problems = self._problems(compiled)
            if problems:
                raise ExpressionError(problems[0][0], line=problems[0][1])
            interpreter = _Interpreter(self, context, kind)
            if isinstance(compiled.tree, ast.Expression):
                return interpreter.value(compiled.tree.body)
            interpreter.run(cast(ast.Module, compiled.tree).body)
            return None
        except ExpressionError as err:
            err.source, err.element, err.kind = source, element, kind
            raise
        except Exception as exc:  # a RecursionError or the like escaping between nodes
            raise ExpressionError(_describe(exc), source=source, element=element, kind=kind) from exc


class _Interpreter:
    """Walks one validated tree, counting steps and sizes so that every run ends quickly."""

    def __init__(self, sandbox: Sandbox, context: Mapping[str, Any], kind: str) -> None:
        self.sandbox, self.context, self.kind, self.steps = sandbox, context, kind, 0
        self.callables = sandbox._callables
        self.scopes: list[dict[str, Any]] = []  # comprehension variables, innermost last

    def step(self, cost: int = 1) -> None:
        self.steps += cost
        if self.steps > self.sandbox.max_steps:
            what = self.kind.split()[0]
            raise ExpressionError(f"{what} took too many steps (limit {self.sandbox.max_steps})")

    def charge(self, *values: Any, deep: bool = False) -> None:
        """Pay for work in proportion to the size of values (deep: every nested item, shared or not).

        [[0] * 10**5] * 10**5 is small in memory, yet sorting, hashing or printing it touches 10**10
        items inside one C call that no step counter could interrupt; so it is paid for up front.
        """
        for value in values:
            if deep and isinstance(value, _CONTAINERS):
                self.step(_weight(value, self.units_left()) // UNITS_PER_STEP)
            elif isinstance(value, _CONTAINERS | str):
                self.step(len(value) // UNITS_PER_STEP)

    def units_left(self) -> int:
        return (self.sandbox.max_steps - self.steps + 1) * UNITS_PER_STEP

    def value(self, node: ast.expr) -> Any:
        self.step()
        try:
            return _EXPRESSIONS[type(node)](self, node)
        except ExpressionError as err:
            err.line = node.lineno if err.line is None else err.line
            raise
        except Exception as exc:
            raise ExpressionError(_describe(exc), line=node.lineno) from exc

    def run(self, body: list[ast.stmt]) -> str | None:
        """Runs statements; returns 'break' or 'continue' when one of them ends the block early."""
        for stmt in body:
            self.step()
            try:
                flow = _STATEMENTS[type(stmt)](self, stmt)
            except ExpressionError as err:
                err.line = stmt.lineno if err.line is None else err.line
                raise
            except Exception as exc:
                raise ExpressionError(_describe(exc), line=stmt.lineno) from exc
            if flow:
                return flow
        return None

    def name(self, node: ast.Name) -> Any:
        for scope in (*reversed(self.scopes), self.context, self.callables):
            if node.id in scope:
                return scope[node.id]
        raise ExpressionError(f"name '{node.id}' is not defined")

    def attribute(self, node: ast.Attribute) -> Any:
        obj = self.value(node.value)
        if node.attr not in _members(obj, _PROPERTIES):
            raise ExpressionError(f"{type(obj).__name__} has no readable attribute '{node.attr}'")
        return getattr(obj, node.attr)

    def call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Attribute):
            return self.method(node, node.func)
        func, fname = self.value(node.func), cast(ast.Name, node.func).id
        if id(func) not in self.sandbox._allowed:
            hidden = " (a variable of that name hides it)" if fname in self.callables else ""
            raise ExpressionError(f"'{fname}' is not a function{hidden}")
        args, kwargs = self.items(node.args), self.keywords(node.keywords)
        trusted = fname in self.sandbox._helpers and func is self.callables[fname]
        if not trusted:  # helpers are engine code and may legitimately return large tables
            self.charge(*args, *kwargs.values(), deep=fname not in _SHALLOW_BUILTINS)
        try:
            result = func(*args, **kwargs)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(f"{fname}() failed: {_describe(exc)}") from exc
        if not trusted:
            self.charge(_check_size(result))
        return result

    def method(self, node: ast.Call, func: ast.Attribute) -> Any:
        obj, name = self.value(func.value), func.attr
        if name not in _members(obj, _METHODS):
            raise ExpressionError(f"{type(obj).__name__} has no allowed method '{name}'")
        args, kwargs = self.items(node.args), self.keywords(node.keywords)
        if name in ("count", "index"):  # compares against every item
            self.charge(obj, *args, deep=True)
        elif isinstance(obj, str):
            self.charge(obj, *args)
        # join and replace build their result in one C call: measure it first.
        if name == "join" and args:
            args[0] = list(args[0])
            total = sum(len(a) for a in args[0] if isinstance(a, str)) + len(obj) * len(args[0])
            if total > MAX_SIZE:
                raise _too_large()
            self.step(total // UNITS_PER_STEP)
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            hits = obj.count(args[0]) if args[0] else len(obj) + 1
            if len(obj) + hits * (len(args[1]) - len(args[0])) > MAX_SIZE:
                raise _too_large()
        result = getattr(obj, name)(*args, **kwargs)
        if name in ("keys", "values", "items"):
            result = list(result)  # views would not survive serialising task data
        _check_size(obj if name == "append" else result)
        self.charge(result)
        return result

    def items(self, nodes: list[ast.expr]) -> list[Any]:
        """Values of list/tuple/set elements or call arguments, *starred ones spread."""
        items: list[Any] = []
        for node in nodes:
            if isinstance(node, ast.Starred):
                items.extend(self.value(node.value))
            else:
                items.append(self.value(node))
        return cast(list[Any], _check_size(items))

    def keywords(self, keywords: list[ast.keyword]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for kw in keywords:
            value = self.value(kw.value)
            if kw.arg is None and not isinstance(value, Mapping):
                raise ExpressionError("argument after ** must be a dict")
            spread = dict(value) if kw.arg is None else {kw.arg: value}
            if any(not isinstance(key, str) or key.startswith("_") for key in spread):
                raise ExpressionError("argument names must be text not starting with '_'")
            kwargs.update(spread)
        return kwargs

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(op, ast.Mod) and isinstance(left, str):
            raise ExpressionError("'%' formatting is not allowed; use an f-string")
        # Measured before computing: 'a' * 10**9 or 2 ** 10**9 is one C call no step limit can stop.
        ints = isinstance(left, int) and isinstance(right, int)
        if isinstance(op, ast.Mult):
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(times, int) and len(seq) * times > MAX_SIZE:
                    raise _too_large()
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_large(number=True)
        if isinstance(op, ast.Pow) and ints and right > 0 and abs(left) > 1 and (
            right > MAX_INT_BITS or left.bit_length() * right > MAX_INT_BITS
        ):
            raise _too_large(number=True)
        result = _check_size(_BINOPS[type(op)](left, right))
        self.charge(result)
        return result

    def compare(self, node: ast.Compare) -> Any:
        left, result = self.value(node.left), True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.value(comparator)
            if isinstance(op, ast.In | ast.NotIn):
                self.charge(left, deep=True)
                if not isinstance(right, dict | set | frozenset):  # hashed lookups walk only the needle
                    self.charge(right, deep=True)
            elif isinstance(left, _CONTAINERS) and isinstance(right, _CONTAINERS):
                # Equality and ordering stop at the first difference: at most the smaller side is walked.
                cap = self.units_left()
                self.step(min(_weight(left, cap), _weight(right, cap)) // UNITS_PER_STEP)
            result = _CMPOPS[type(op)](left, right)
            if not result:
                return result
            left = right
        return result

    def bool_op(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.value(operand)
            if bool(value) == isinstance(node.op, ast.Or):
                return value
        return value

    def dict_display(self, node: ast.Dict) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                result.update(self.value(value))
            else:
                result[self.value(key)] = self.value(value)
        return cast(dict[Any, Any], _check_size(result))

    def comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> Any:
        # Generator expressions are built eagerly: they are finite anyway, and a list serialises.
        items: list[Any] = []
        self.scopes.append({})
        try:
            for _ in self.generate(node.generators, 0):
                if isinstance(node, ast.DictComp):
                    items.append((self.value(node.key), self.value(node.value)))
                else:
                    items.append(self.value(node.elt))
                _check_size(items)
        finally:
            self.scopes.pop()
        return {ast.SetComp: set, ast.DictComp: dict}.get(type(node), list)(items)

    def generate(self, generators: list[ast.comprehension], index: int) -> Iterator[None]:
        if index == len(generators):
            yield None
            return
        for item in self.value(generators[index].iter):
            self.step()
            self.assign(generators[index].target, item)
            if all(self.value(test) for test in generators[index].ifs):
                yield from self.generate(generators, index + 1)

    def joined_str(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        for part in node.values:
            if not isinstance(part, ast.FormattedValue):
                parts.append(str(cast(ast.Constant, part).value))
                continue
            value = self.value(part.value)
            self.charge(value, deep=True)  # printing walks every nested item
            value = _CONVERSIONS[part.conversion](value) if part.conversion in _CONVERSIONS else value
            spec = part.format_spec.values if isinstance(part.format_spec, ast.JoinedStr) else []
            parts.append(format(value, "".join(str(cast(ast.Constant, p).value) for p in spec)))
        return cast(str, _check_size("".join(parts)))

    def subscript(self, node: ast.Subscript) -> Any:
        obj, key = self.value(node.value), self.value(node.slice)
        result = obj[key]
        if isinstance(key, slice):
            self.charge(result)
        return result

    def target(self, node: ast.Subscript) -> tuple[dict[Any, Any] | list[Any], Any]:
        """The container and key of `d[k] = ...`, `d[k] += ...` or `del d[k]`."""
        obj, key = self.value(node.value), self.value(node.slice)
        if not isinstance(obj, dict | list):
            raise ExpressionError(f"cannot change items of {type(obj).__name__}")
        return obj, key

    def scope(self) -> dict[str, Any]:
        return self.scopes[-1] if self.scopes else cast(dict[str, Any], self.context)

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if id(value) in self.sandbox._allowed:  # a function in task data would not serialise
                raise ExpressionError(f"a function cannot be stored in variable '{target.id}'")
            self.scope()[target.id] = value
        elif isinstance(target, ast.Subscript):
            obj, key = self.target(target)
            obj[key] = value
            _check_size(obj)
        elif isinstance(target, ast.Tuple | ast.List):
            items, targets = list(value), target.elts
            self.charge(_check_size(items))
            star = next((i for i, t in enumerate(targets) if isinstance(t, ast.Starred)), None)
            if len(items) != len(targets) if star is None else len(items) < len(targets) - 1:
                raise ExpressionError(f"cannot unpack {len(items)} values into {len(targets)} targets")
            if star is not None:
                tail = len(items) - (len(targets) - 1 - star)
                items = [*items[:star], items[star:tail], *items[tail:]]
            for elt, item in zip(targets, items, strict=True):
                self.assign(elt.value if isinstance(elt, ast.Starred) else elt, item)
        else:  # the validator lets nothing else through
            raise ExpressionError(f"cannot assign to {type(target).__name__}")

    def assign_all(self, stmt: ast.Assign) -> None:
        value = self.value(stmt.value)
        for target in stmt.targets:
            self.assign(target, value)

    def aug_assign(self, stmt: ast.AugAssign) -> None:
        if isinstance(stmt.target, ast.Subscript):
            obj, key = self.target(stmt.target)
            obj[key] = self.binop(stmt.op, obj[key], self.value(stmt.value))
        else:
            target = cast(ast.Name, stmt.target)
            self.assign(target, self.binop(stmt.op, self.name(target), self.value(stmt.value)))

    def for_loop(self, stmt: ast.For) -> str | None:
        for item in self.value(stmt.iter):
            self.step()
            self.assign(stmt.target, item)
            if self.run(stmt.body) == "break":
                return None
        return self.run(stmt.orelse)

    def delete(self, target: ast.expr) -> None:
        if isinstance(target, ast.Subscript):
            obj, key = self.target(target)
            del obj[key]
        elif isinstance(target, ast.Name):
            if target.id not in self.scope():
                raise ExpressionError(f"name '{target.id}' is not defined")
            del self.scope()[target.id]
        else:
            for elt in cast(ast.Tuple, target).elts:
                self.delete(elt)


_I = _Interpreter
_EXPRESSIONS: dict[type, Callable[[_Interpreter, Any], Any]] = {
    ast.Constant: lambda self, n: n.value, ast.Name: _I.name, ast.Attribute: _I.attribute, ast.Call: _I.call,
    ast.Subscript: _I.subscript, ast.Compare: _I.compare, ast.BoolOp: _I.bool_op,
    ast.BinOp: lambda self, n: self.binop(n.op, self.value(n.left), self.value(n.right)),
    ast.UnaryOp: lambda self, n: _UNARYOPS[type(n.op)](self.value(n.operand)),
    ast.IfExp: lambda self, n: self.value(n.body) if self.value(n.test) else self.value(n.orelse),
    ast.Slice: lambda self, n: slice(*(self.value(p) if p else None for p in (n.lower, n.upper, n.step))),
    ast.List: lambda self, n: self.items(n.elts), ast.Tuple: lambda self, n: tuple(self.items(n.elts)),
    ast.Set: lambda self, n: set(self.items(n.elts)), ast.Dict: _I.dict_display,
    ast.ListComp: _I.comprehension, ast.SetComp: _I.comprehension, ast.DictComp: _I.comprehension,
    ast.GeneratorExp: _I.comprehension, ast.JoinedStr: _I.joined_str,
}
_STATEMENTS: dict[type, Callable[[_Interpreter, Any], str | None]] = {
    ast.Assign: _I.assign_all, ast.AugAssign: _I.aug_assign,
    ast.If: lambda self, s: self.run(s.body if self.value(s.test) else s.orelse),
    ast.For: _I.for_loop, ast.Break: lambda self, s: "break", ast.Continue: lambda self, s: "continue",
    ast.Pass: lambda self, s: None, ast.Expr: lambda self, s: (self.value(s.value), None)[1],
    ast.Delete: lambda self, s: (list(map(self.delete, s.targets)), None)[1],
}
