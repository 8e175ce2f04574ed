"""Findings of the hardening review: durations and dates are bounded before any arithmetic, and business-
calendar arithmetic takes time in proportion to days (so a huge count is refused, a long one computed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.calendar import BusinessCalendar, check_date, parse_iso_duration

START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


def office() -> BusinessCalendar:
    hours = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}
    return BusinessCalendar.from_config("office", {"timezone": "Asia/Shanghai", "hours": hours,
                                                   "holidays": ["2026-01-01"]})


def test_twelve_nines_of_hours_is_a_clear_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="longer than the maximum of 3650 days"):
        parse_iso_duration("PT" + "9" * 12 + "H")
    with pytest.raises(ValueError, match="longer than the maximum"):
        office().add_iso(START, "PT" + "9" * 12 + "H")


def test_a_duration_with_hundreds_of_digits_is_refused_before_arithmetic() -> None:
    with pytest.raises(ValueError, match="longer than the maximum"):
        parse_iso_duration("P" + "9" * 400 + "D")


def test_p999999999d_on_a_business_calendar_is_refused_instead_of_walked_day_by_day() -> None:
    with pytest.raises(ValueError, match="longer than the maximum"):
        office().add_iso(START, "P999999999D")
    with pytest.raises(ValueError, match="longer than the maximum"):
        office().add_iso(START, "P200000W")


def test_long_business_durations_within_the_maximum_are_computed() -> None:
    cal = office()
    due = cal.add_iso(START, "PT20000H")  # 20,000 working hours: about nine years of office days
    assert cal.working_seconds_between(START, due) == 20000 * 3600
    far = cal.add_iso(START, "P3000D")
    assert far == cal.add_business_days(START, 3000) and far.astimezone(cal.zone).hour == 9


def test_the_maximum_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWDESK_MAX_DURATION_DAYS", "10")
    assert parse_iso_duration("P10D").days == 10
    with pytest.raises(ValueError, match="maximum of 10 days"):
        parse_iso_duration("PT241H")


def test_dates_further_than_the_maximum_from_now_are_refused() -> None:
    assert check_date(datetime(2035, 1, 1, tzinfo=UTC), START).year == 2035
    for far in (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(ValueError, match="more than 3650 days from now"):
            check_date(far, START)
