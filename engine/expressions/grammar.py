"""The Python subset process text is written in: allowed syntax nodes, operators and format specs."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Any

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
_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
