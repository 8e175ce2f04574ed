"""The interpreter: walks one validated tree node by node, counting steps and paying for sizes."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from .errors import ExpressionError, _describe
from .functions import _METHODS, _PROPERTIES, _SHALLOW_BUILTINS, _members
from .grammar import _BINOPS, _CMPOPS, _CONVERSIONS, _UNARYOPS
from .limits import (
    _CONTAINERS,
    _SEQUENCES,
    MAX_INT_BITS,
    MAX_SIZE,
    UNITS_PER_STEP,
    _check_size,
    _too_large,
    _weight,
)

if TYPE_CHECKING:
    from .sandbox import Sandbox


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
