"""JSON-safe copies of task data."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any


def plain(value: Any) -> Any:
    """JSON-safe copy of task data (sets and tuples become lists, datetimes ISO strings)."""
    return json.loads(json.dumps(value, default=json_default))


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)
