"""The engine's only source of the current time.

Everything in `engine/` that needs "now" takes a `Clock`, so tests and replay can move time
deliberately instead of sleeping or racing the wall clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

DEFAULT_FAKE_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, opening time


class Clock(Protocol):
    """Something that tells the time."""

    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to; shared safely between a test and worker threads."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _as_utc(DEFAULT_FAKE_START if start is None else start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current fake instant, timezone-aware in UTC."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: Any) -> datetime:
        """Move forward by `delta` and/or timedelta keyword arguments (`hours=2`); return the new now."""
        step = (delta or timedelta()) + timedelta(**kwargs)
        if step < timedelta():
            raise ValueError(f"FakeClock cannot go backwards (advance by {step})")
        with self._lock:
            self._now += step
            return self._now

    def set(self, dt: datetime) -> datetime:
        """Jump to `dt`, which must not be earlier than now; return the new now."""
        target = _as_utc(dt)
        with self._lock:
            if target < self._now:
                raise ValueError(
                    f"FakeClock cannot go backwards from {self._now.isoformat()} to {target.isoformat()}"
                )
            self._now = target
            return self._now


def _as_utc(dt: datetime) -> datetime:
    # A naive datetime has no instant; guessing a zone is how timers end up firing hours off.
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"FakeClock needs a timezone-aware datetime, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)
