"""Timers on the office calendar (Europe/Berlin, Mon–Fri 09:00–18:00, 25 Dec off), through the engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine import Engine, FakeClock
from engine.timers import Worker
from tests.conftest import FIXTURES, only

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def wait_in_office_hours(engine: Engine, clock: FakeClock, start: str, wait_for: str) -> tuple[str, datetime]:
    """Start office_wait at Berlin wall time `start`; the case id and its timer's due time."""
    engine.deploy(FIXTURES / "packages" / "office_wait")
    clock.set(berlin(start))
    case = engine.start("office_wait", {"wait_for": wait_for})
    return case.id, only(engine.timers(instance_id=case.id)).due_at


@pytest.mark.parametrize(("start", "wait_for", "due"), [
    pytest.param("2026-01-09 16:00", "PT4H", "2026-01-12 11:00", id="friday-afternoon-runs-over-the-weekend"),
    pytest.param("2026-12-24 16:00", "PT4H", "2026-12-28 11:00", id="christmas-day-is-a-holiday"),
    pytest.param("2026-03-27 16:00", "PT4H", "2026-03-30 11:00", id="summer-time-starts-on-the-sunday"),
    pytest.param("2026-10-23 16:00", "PT4H", "2026-10-26 11:00", id="summer-time-ends-on-the-sunday"),
    pytest.param("2026-01-10 10:00", "PT4H", "2026-01-12 13:00", id="saturday-counts-from-monday-opening"),
    pytest.param("2026-01-06 07:00", "PT1H", "2026-01-06 10:00", id="early-morning-counts-from-opening"),
    pytest.param("2026-01-06 20:00", "PT30M", "2026-01-07 09:30", id="evening-counts-from-next-opening"),
])
def test_office_timer_counts_only_working_hours(engine: Engine, clock: FakeClock, start: str, wait_for: str,
                                                due: str) -> None:
    _, due_at = wait_in_office_hours(engine, clock, start, wait_for)
    assert due_at == berlin(due)
    assert due_at.utcoffset() == timedelta(0)  # stored and shown in UTC


def test_office_timer_fires_at_its_business_due_time_and_the_next_task_is_due_by_the_same_rule(
        engine: Engine, clock: FakeClock) -> None:
    case_id, due_at = wait_in_office_hours(engine, clock, "2026-01-09 16:00", "PT4H")
    worker = Worker(engine, worker_id="w", lease_seconds=30)

    clock.set(berlin("2026-01-12 10:59:59"))
    assert worker.run_once() == 0
    clock.set(due_at)
    assert worker.run_once() == 1

    resume = only(engine.tasks(instance_id=case_id))
    # The timer fired as at 11:00 Monday; the task's PT4H on the same calendar is due 15:00 Monday.
    assert abs(resume.due_at - berlin("2026-01-12 15:00")) < timedelta(seconds=1)  # type: ignore[operator]


def test_a_boundary_timer_and_its_tasks_due_time_agree(engine: Engine, clock: FakeClock) -> None:
    engine.deploy(FIXTURES / "packages" / "simple")
    clock.set(berlin("2026-01-09 16:00"))
    case = engine.start("simple", {"subject": "Broken kettle", "ref": "R-9", "customer_id": "C1"}, "alice")
    review = only(engine.tasks(instance_id=case.id))
    overdue = only(engine.timers(instance_id=case.id))
    assert review.due_at == overdue.due_at == berlin("2026-01-12 11:00")
