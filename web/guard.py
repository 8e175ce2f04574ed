"""The request guard: a JSON body is measured before it is parsed, so no request can make the parser recurse
or allocate without bound, and numbers JSON does not have are refused.

Each cause gets its own answer: a body over MAX_CONTENT_LENGTH is 413 (Werkzeug's check), JSON nested
deeper than MAX_JSON_DEPTH is 400, one with more than MAX_JSON_ITEMS values is 413, and NaN, Infinity or
a number too large for a float is 400 — each with a message that says which.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

MAX_JSON_DEPTH = 64
MAX_JSON_ITEMS = 100_000

# Strings first (their brackets and commas are text), then the characters that open, close or separate values.
# The closing quote is optional so that an unterminated string ends the scan instead of being retried from
# every later quote (the parser then refuses the text).
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{},]', re.S)


class JSONTooDeep(BadRequest):
    pass


class JSONTooLarge(RequestEntityTooLarge):
    pass


class NotJSONNumber(BadRequest):
    pass


def measure(text: str, max_depth: int = MAX_JSON_DEPTH, max_items: int = MAX_JSON_ITEMS) -> None:
    """Raise JSONTooDeep or JSONTooLarge unless the JSON text stays within the limits; one linear scan."""
    depth = items = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            items += 1
            if depth > max_depth:
                raise JSONTooDeep(f"the JSON body is nested deeper than {max_depth} levels")
        elif token in "]}":
            depth -= 1
        else:
            items += 1
        if items > max_items:
            raise JSONTooLarge(f"the JSON body holds more than {max_items} values")


def _refuse_constant(name: str) -> Any:
    raise NotJSONNumber(f"{name} is not a JSON number; send a finite number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJSONNumber(f"the number {text[:40]} is too large; send a finite number")
    return value


def loads(text: str | bytes) -> Any:
    """json.loads behind the guard: limits checked first, NaN/Infinity and overflowing numbers refused."""
    if isinstance(text, bytes | bytearray):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadRequest("the JSON body is not UTF-8 text") from err
    measure(text)
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing request bodies through the guard (dumping is unchanged)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def install(app: Flask) -> None:
    app.json = GuardedJSONProvider(app)
