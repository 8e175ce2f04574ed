"""Every kind of BPMN timer, fired by a worker on the fake clock: nothing fires early, nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import Engine, FakeClock, ProcessFailed
from engine.timers import Worker
from tests.conftest import FIXTURES, only

PACKAGES = FIXTURES / "packages"


def deploy(engine: Engine, *names: str) -> None:
    for name in names:
        engine.deploy(PACKAGES / name)


def work_off(engine: Engine) -> int:
    """One worker round on the engine's (fake) clock; the number of timers fired."""
    return Worker(engine, worker_id="test-worker", lease_seconds=30).run_once()


def open_tasks(engine: Engine, instance_id: str) -> list[str]:
    return sorted(t.element_id for t in engine.tasks(instance_id=instance_id))


def firings(engine: Engine, instance_id: str) -> list[dict[str, object]]:
    return [e.payload for e in engine.history(instance_id) if e.type == "timer_fired"]


def test_intermediate_duration_timer_holds_the_case_until_it_is_due(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "minute_wait")
    case = engine.start("minute_wait", {"ref": "A-1"})
    timer = only(engine.timers(instance_id=case.id))
    assert (timer.element_id, timer.due_at) == ("wait", clock.now() + timedelta(minutes=1))

    clock.advance(seconds=59)
    assert work_off(engine) == 0
    assert open_tasks(engine, case.id) == []

    clock.advance(seconds=2)
    assert work_off(engine) == 1
    assert open_tasks(engine, case.id) == ["follow_up"]
    fired = only(engine.timers(instance_id=case.id, status=None))
    assert (fired.status, fired.lease_owner, fired.attempts) == ("fired", None, 1)
    event = only([e for e in engine.history(case.id) if e.type == "timer_fired"])
    assert event.actor == "test-worker"
    assert event.payload["timer_id"] == timer.id and event.payload["fired"] == [timer.id]


@pytest.mark.parametrize("wake_at", ["next tuesday", "2026-13-45T10:00:00", "R/x/y"])
def test_a_timer_date_spiff_cannot_read_fails_the_start_and_keeps_nothing(engine: Engine, wake_at: str) -> None:
    deploy(engine, "date_wait")
    with pytest.raises(ProcessFailed) as failed:
        engine.start("date_wait", {"wake_at": wake_at})
    assert failed.value.element == "wake" and "invalid value" in str(failed.value)
    assert engine.instances() == [] and engine.timers(status=None) == []


def test_date_timer_fires_at_its_date_and_not_before(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "date_wait")
    case = engine.start("date_wait", {"wake_at": "2026-01-07T10:00:00+01:00"})
    timer = only(engine.timers(instance_id=case.id))
    assert timer.due_at == datetime(2026, 1, 7, 9, 0, tzinfo=UTC)

    clock.set(datetime(2026, 1, 7, 8, 59, 59, tzinfo=UTC))
    assert work_off(engine) == 0
    clock.set(datetime(2026, 1, 7, 9, 0, 1, tzinfo=UTC))
    assert work_off(engine) == 1
    assert open_tasks(engine, case.id) == ["resume"]


def test_cycle_timer_reminds_three_times_then_stops(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "reminders")
    case = engine.start("reminders", {"cycle": "R3/PT1H", "deadline": "P10D"})
    remind = next(t for t in engine.timers(instance_id=case.id) if t.element_id == "remind")
    assert remind.due_at == clock.now() + timedelta(hours=1)

    for hour in range(1, 6):
        clock.advance(hours=1, seconds=1)
        work_off(engine)
        assert open_tasks(engine, case.id).count("chase") == min(hour, 3)
    row = only([t for t in engine.timers(instance_id=case.id, status=None) if t.element_id == "remind"])
    assert (row.status, row.attempts) == ("fired", 3)
    assert [p["timer_id"] for p in firings(engine, case.id)] == [remind.id] * 3
    assert "work" in open_tasks(engine, case.id)  # reminding never interrupts the work


def test_unbounded_daily_cycle_keeps_reminding_and_moves_its_due_time(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "reminders")
    start = clock.now()
    case = engine.start("reminders", {"cycle": "R/P1D", "deadline": "P30D"})
    for day in range(1, 5):
        clock.advance(days=1, seconds=1)
        assert work_off(engine) == 1
        remind = only([t for t in engine.timers(instance_id=case.id) if t.element_id == "remind"])
        assert remind.due_at == start + timedelta(days=day + 1)
        # Each cycle's lease is given back, or the next cycle could not be claimed by anyone else.
        assert (remind.status, remind.lease_owner) == ("pending", None)
    assert open_tasks(engine, case.id).count("chase") == 4


def test_timer_start_event_holds_a_new_case_until_it_fires(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "timer_start")
    case = engine.start("timer_start")
    assert case.status == "running" and open_tasks(engine, case.id) == []
    assert only(engine.timers(instance_id=case.id)).element_id == "start"

    clock.advance(minutes=59)
    assert work_off(engine) == 0
    clock.advance(minutes=2)
    assert work_off(engine) == 1
    assert open_tasks(engine, case.id) == ["follow_up"]


def test_interrupting_boundary_timer_takes_the_work_away_and_cancels_the_reminders(
        engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "reminders")
    case = engine.start("reminders", {"cycle": "R/PT1H", "deadline": "PT90M"})
    clock.advance(hours=1, seconds=1)
    work_off(engine)
    assert open_tasks(engine, case.id) == ["chase", "work"]

    clock.advance(minutes=30)
    assert work_off(engine) == 1
    # (Spiff 3.2.0 also cancels the chase the reminder already started; BPMN would let it run on.)
    assert "escalate" in open_tasks(engine, case.id) and "work" not in open_tasks(engine, case.id)
    by_element = {t.element_id: t.status for t in engine.timers(instance_id=case.id, status=None)}
    assert by_element == {"remind": "cancelled", "deadline": "fired"}
    assert "work" in {t.element_id for t in engine.tasks(instance_id=case.id, status="cancelled")}


def test_non_interrupting_boundary_timer_adds_a_chase_and_leaves_the_review_open(
        engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "simple")
    case = engine.start("simple", {"subject": "Broken kettle", "ref": "R-1", "customer_id": "C1"}, "alice")
    overdue = only(engine.timers(instance_id=case.id))
    clock.set(overdue.due_at + timedelta(seconds=1))
    assert work_off(engine) == 1
    assert open_tasks(engine, case.id) == ["chase", "review"]


def test_completing_the_work_cancels_its_boundary_timers(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "reminders")
    case = engine.start("reminders", {"cycle": "R3/PT1H", "deadline": "P2D"})
    work = only(engine.tasks(instance_id=case.id))
    clock.advance(minutes=30)
    engine.complete(work.id, {}, "alice")

    assert engine.timers(instance_id=case.id) == []
    assert {t.status for t in engine.timers(instance_id=case.id, status=None)} == {"cancelled"}
    clock.advance(days=3)
    assert work_off(engine) == 0
    assert engine.instance(case.id).status == "completed"
    assert firings(engine, case.id) == []


def test_terminating_a_case_cancels_its_timers(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "minute_wait")
    case = engine.start("minute_wait", {"ref": "T-1"})
    engine.terminate(case.id, "customer withdrew", "sam")
    clock.advance(minutes=5)
    assert work_off(engine) == 0
    assert only(engine.timers(instance_id=case.id, status=None)).status == "cancelled"


def test_a_timer_fires_once_however_often_it_is_fired(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "minute_wait")
    case = engine.start("minute_wait", {"ref": "D-1"})
    timer = only(engine.timers(instance_id=case.id))
    clock.advance(minutes=2)
    assert engine.fire_timer(timer.id, "sam") is True
    assert engine.fire_timer(timer.id, "sam") is False
    assert work_off(engine) == 0
    assert engine.run_due() == 0
    assert len(firings(engine, case.id)) == 1


def test_a_timer_fired_before_it_is_due_fires_as_at_its_due_time(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "minute_wait")
    case = engine.start("minute_wait", {"ref": "E-1"})
    timer = only(engine.timers(instance_id=case.id))
    assert engine.fire_timer(timer.id, "sam") is True
    event = only([e for e in engine.history(case.id) if e.type == "timer_fired"])
    assert (event.actor, event.at) == ("sam", timer.due_at + timedelta(microseconds=1))
    assert open_tasks(engine, case.id) == ["follow_up"]


def test_run_due_fires_everything_due_in_order(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "minute_wait", "timer_start")
    first = engine.start("minute_wait", {"ref": "F-1"})
    second = engine.start("timer_start")
    clock.advance(hours=2)
    assert engine.run_due() == 2
    assert open_tasks(engine, first.id) == ["follow_up"]
    assert open_tasks(engine, second.id) == ["follow_up"]
    assert firings(engine, first.id)[0]["due_at"] < firings(engine, second.id)[0]["due_at"]  # type: ignore[operator]


def test_two_timers_of_a_case_due_together_fire_in_one_event_naming_both(engine: Engine, clock: FakeClock) -> None:
    deploy(engine, "paired_waits")
    case = engine.start("paired_waits", {"ref": "P-1"})
    first, second = engine.timers(instance_id=case.id)
    clock.advance(minutes=2)
    assert work_off(engine) == 1
    assert firings(engine, case.id) == [{"timer_id": first.id, "element_id": "wait_a",
                                         "due_at": first.due_at.isoformat(), "fired": [first.id, second.id]}]
    assert open_tasks(engine, case.id) == ["follow_up"]
    assert engine.fire_timer(second.id, "sam") is False
