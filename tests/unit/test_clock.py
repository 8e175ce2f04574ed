from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.clock import Clock, FakeClock, SystemClock

MONDAY_OPENING = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_system_clock_tells_aware_utc_time() -> None:
    clock: Clock = SystemClock()
    assert clock.now().tzinfo is UTC


def test_fake_clock_starts_on_a_monday_morning_in_utc_by_default() -> None:
    clock: Clock = FakeClock()
    assert clock.now() == MONDAY_OPENING
    assert clock.now().tzinfo is UTC


def test_fake_clock_keeps_the_instant_of_a_local_start_but_reports_it_in_utc() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert clock.now() == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fake_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="naive"):
        FakeClock(datetime(2026, 1, 5, 9, 0))


def test_fake_clock_stands_still_until_told_to_move() -> None:
    clock = FakeClock()
    assert clock.now() == clock.now() == MONDAY_OPENING


def test_advancing_by_a_timedelta_moves_time_forward_and_returns_the_new_now() -> None:
    clock = FakeClock()
    assert clock.advance(timedelta(minutes=30)) == MONDAY_OPENING + timedelta(minutes=30)
    assert clock.now() == MONDAY_OPENING + timedelta(minutes=30)


def test_advancing_by_keywords_reads_like_the_handbook() -> None:
    clock = FakeClock()
    clock.advance(hours=2)
    clock.advance(days=1, minutes=15)
    assert clock.now() == datetime(2026, 1, 6, 11, 15, tzinfo=UTC)


def test_advancing_by_a_timedelta_and_keywords_adds_both() -> None:
    clock = FakeClock()
    assert clock.advance(timedelta(hours=1), minutes=30) == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


def test_advancing_by_nothing_leaves_the_time_alone() -> None:
    clock = FakeClock()
    assert clock.advance() == MONDAY_OPENING


def test_fake_clock_cannot_be_advanced_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(hours=-1)
    assert clock.now() == MONDAY_OPENING


def test_setting_the_fake_clock_jumps_to_that_instant_in_utc() -> None:
    clock = FakeClock()
    berlin_noon = datetime(2026, 1, 6, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert clock.set(berlin_noon) == datetime(2026, 1, 6, 11, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_setting_the_fake_clock_to_now_is_allowed() -> None:
    clock = FakeClock()
    assert clock.set(MONDAY_OPENING) == MONDAY_OPENING


def test_fake_clock_cannot_be_set_into_the_past() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.set(MONDAY_OPENING - timedelta(microseconds=1))
    assert clock.now() == MONDAY_OPENING


def test_fake_clock_refuses_to_be_set_to_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        FakeClock().set(datetime(2026, 2, 1, 9, 0))


def test_fake_clock_loses_no_step_when_many_threads_advance_it_together() -> None:
    clock = FakeClock()

    def tick() -> None:
        for _ in range(1000):
            clock.advance(seconds=1)

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == MONDAY_OPENING + timedelta(seconds=8000)
