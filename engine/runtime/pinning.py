"""Time and task ids pinned for one command: Spiff's wall clock and random UUIDs, replaced."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer
import SpiffWorkflow.task as _spiff_task

from ..clock import SystemClock

_WALL = SystemClock()

# --- the pinned context of one command ---------------------------------------------------------


@dataclass
class _Pin:
    now: datetime
    seed: uuid.UUID
    counter: int
    helpers: dict[str, Callable[..., Any]] = field(default_factory=dict)


_pin: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("flowdesk_pin", default=None)


def _pinned_now() -> datetime:
    pin = _pin.get()
    if pin is None:
        # Outside a command (parsing, tooling) Spiff may still ask; it never matters for state.
        return _WALL.now()
    return pin.now


class _SpiffDatetime(datetime):
    """Stands in for `datetime` inside Spiff's timer module so its "now" reads the pin."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        now = _pinned_now()
        return now.astimezone(tz) if tz is not None else now.replace(tzinfo=None)


class _SpiffTime:
    """Stands in for the `time` module inside Spiff's task module (task timestamps)."""

    @staticmethod
    def time() -> float:
        return _pinned_now().timestamp()


def _next_task_id() -> uuid.UUID:
    pin = _pin.get()
    if pin is None:
        return uuid.uuid4()
    pin.counter += 1
    return uuid.uuid5(pin.seed, str(pin.counter))


_spiff_timer.datetime = _SpiffDatetime  # type: ignore[misc]
_spiff_task.time = _SpiffTime  # type: ignore[assignment]
_spiff_task.uuid4 = _next_task_id  # type: ignore[assignment]


@contextmanager
def pinned(now: datetime, seed: str, counter: int, helpers: Mapping[str, Callable[..., Any]]) -> Iterator[_Pin]:
    """Run Spiff with time, task ids and expression helpers fixed for one command."""
    pin = _Pin(now=now, seed=uuid.UUID(seed), counter=counter, helpers=dict(helpers))
    token = _pin.set(pin)
    try:
        yield pin
    finally:
        _pin.reset(token)
