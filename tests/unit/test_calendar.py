from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import BusinessCalendar, parse_iso_duration

OFFICE_HOURS = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri")}
HOUR = 3600.0


def office(holidays: tuple[str, ...] = ("2026-01-01",), **hours: str | None) -> BusinessCalendar:
    """Shanghai service desk, Mon–Fri 09:00–18:00, with per-test changes to the hours."""
    cfg: dict[str, Any] = {
        "timezone": "Asia/Shanghai",
        "hours": {**OFFICE_HOURS, "sat": None, **hours},
        "holidays": list(holidays),
    }
    return BusinessCalendar.from_config("office", cfg)


def berlin(**hours: str | None) -> BusinessCalendar:
    """A Berlin desk open every day, so its working days include the DST Sundays."""
    every_day = {day: "09:00-18:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return BusinessCalendar.from_config(
        "berlin", {"timezone": "Europe/Berlin", "hours": {**every_day, **hours}}
    )


def at(calendar: BusinessCalendar, text: str) -> datetime:
    """A local wall time in the calendar's zone, e.g. '2026-01-09 16:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(calendar.timezone))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- business-time addition -------------------------------------------------------------------


def test_four_business_hours_from_friday_afternoon_is_due_monday_late_morning() -> None:
    cal = office()
    due = cal.add(at(cal, "2026-01-09 16:00"), timedelta(hours=4))
    assert due == at(cal, "2026-01-12 11:00")
    assert due.tzinfo is UTC


def test_due_time_is_the_same_whatever_zone_the_start_is_given_in() -> None:
    cal = office()
    friday_afternoon_in_utc = utc("2026-01-09 08:00")  # 16:00 in Shanghai
    assert cal.add(friday_afternoon_in_utc, timedelta(hours=4)) == utc("2026-01-12 03:00")


def test_work_that_fits_in_the_day_is_due_the_same_day() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-06 10:15"), timedelta(hours=2, minutes=30)) == at(cal, "2026-01-06 12:45")


def test_work_that_uses_up_the_day_exactly_is_due_at_closing_not_next_morning() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-09 14:00"), timedelta(hours=4)) == at(cal, "2026-01-09 18:00")


def test_work_arriving_before_opening_starts_counting_at_opening() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-05 07:30"), timedelta(hours=1)) == at(cal, "2026-01-05 10:00")


def test_work_arriving_after_closing_starts_counting_next_morning() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-05 19:00"), timedelta(hours=1)) == at(cal, "2026-01-06 10:00")


def test_work_arriving_on_saturday_starts_counting_on_monday() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-10 10:00"), timedelta(hours=2)) == at(cal, "2026-01-12 11:00")


def test_a_monday_holiday_pushes_friday_work_to_tuesday() -> None:
    cal = office(holidays=("2026-01-12",))
    assert cal.add(at(cal, "2026-01-09 16:00"), timedelta(hours=4)) == at(cal, "2026-01-13 11:00")


def test_new_years_day_is_skipped_entirely() -> None:
    cal = office()
    assert cal.add(at(cal, "2025-12-31 17:00"), timedelta(hours=2)) == at(cal, "2026-01-02 10:00")


def test_a_full_working_week_from_monday_opening_ends_at_friday_closing() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-05 09:00"), timedelta(hours=45)) == at(cal, "2026-01-09 18:00")


def test_twenty_hours_from_monday_morning_spans_into_wednesday() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-05 10:00"), timedelta(hours=20)) == at(cal, "2026-01-07 12:00")


def test_a_long_span_crosses_weekends_and_the_holiday() -> None:
    cal = office()
    # Wed 31 Dec 09:00 + 3 working days of hours: Wed, (Thu holiday), Fri, Mon.
    assert cal.add(at(cal, "2025-12-31 09:00"), timedelta(hours=27)) == at(cal, "2026-01-05 18:00")


def test_zero_duration_inside_working_hours_is_due_immediately() -> None:
    cal = office()
    start = at(cal, "2026-01-06 11:11")
    assert cal.add(start, timedelta()) == start


def test_zero_duration_outside_working_hours_is_due_at_the_next_opening() -> None:
    cal = office()
    assert cal.add(at(cal, "2026-01-10 10:00"), timedelta()) == at(cal, "2026-01-12 09:00")


def test_a_negative_duration_is_refused() -> None:
    cal = office()
    with pytest.raises(ValueError, match="negative"):
        cal.add(at(cal, "2026-01-06 10:00"), timedelta(hours=-1))


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        office().add(datetime(2026, 1, 6, 10, 0), timedelta(hours=1))


def test_a_shorter_friday_is_honoured() -> None:
    cal = office(fri="09:00-15:00")
    assert cal.add(at(cal, "2026-01-09 14:00"), timedelta(hours=2)) == at(cal, "2026-01-12 10:00")


# --- daylight saving time ---------------------------------------------------------------------


def test_friday_afternoon_work_lands_on_monday_wall_time_across_spring_forward() -> None:
    cal = berlin(sat=None, sun=None)
    due = cal.add(at(cal, "2026-03-27 16:00"), timedelta(hours=4))
    assert due == at(cal, "2026-03-30 11:00")
    assert due == utc("2026-03-30 09:00")  # CEST, one hour less than the Friday offset


def test_a_nine_to_six_day_on_the_spring_forward_sunday_is_still_nine_hours() -> None:
    cal = berlin()
    day = (at(cal, "2026-03-29 00:00"), at(cal, "2026-03-30 00:00"))
    assert cal.working_seconds_between(*day) == 9 * HOUR
    assert cal.add(at(cal, "2026-03-29 09:00"), timedelta(hours=9)) == at(cal, "2026-03-29 18:00")


def test_a_nine_to_six_day_on_the_fall_back_sunday_is_still_nine_hours() -> None:
    cal = berlin()
    day = (at(cal, "2026-10-25 00:00"), at(cal, "2026-10-26 00:00"))
    assert cal.working_seconds_between(*day) == 9 * HOUR
    assert cal.add(at(cal, "2026-10-25 09:00"), timedelta(hours=9)) == at(cal, "2026-10-25 18:00")


def test_a_night_shift_across_spring_forward_counts_only_the_real_three_hours() -> None:
    cal = berlin(sun="01:00-05:00")
    opening = at(cal, "2026-03-29 01:00")
    assert cal.working_seconds_between(opening, at(cal, "2026-03-29 05:00")) == 3 * HOUR
    assert cal.add(opening, timedelta(hours=2)) == at(cal, "2026-03-29 04:00")
    assert cal.add(opening, timedelta(hours=3)) == at(cal, "2026-03-29 05:00")
    assert cal.add(opening, timedelta(hours=4)) == at(cal, "2026-03-30 10:00")


def test_a_night_shift_across_fall_back_counts_the_real_five_hours() -> None:
    cal = berlin(sun="01:00-05:00")
    opening = at(cal, "2026-10-25 01:00")
    assert cal.working_seconds_between(opening, at(cal, "2026-10-25 05:00")) == 5 * HOUR
    assert cal.add(opening, timedelta(hours=5)) == at(cal, "2026-10-25 05:00")
    assert cal.add(opening, timedelta(hours=5)) == utc("2026-10-25 04:00")


def test_a_round_the_clock_desk_has_a_23_hour_and_a_25_hour_day() -> None:
    cal = berlin(sun="00:00-24:00")
    assert cal.working_seconds_between(at(cal, "2026-03-29 00:00"), at(cal, "2026-03-30 00:00")) == 23 * HOUR
    assert cal.working_seconds_between(at(cal, "2026-10-25 00:00"), at(cal, "2026-10-26 00:00")) == 25 * HOUR
    assert cal.is_working_time(at(cal, "2026-10-25 23:59"))


# --- working time and the next opening ----------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "working"),
    [
        ("2026-01-06 08:59:59.999999", False),
        ("2026-01-06 09:00", True),
        ("2026-01-06 17:59:59.999999", True),
        ("2026-01-06 18:00", False),
        ("2026-01-10 11:00", False),  # Saturday
        ("2026-01-01 11:00", False),  # New Year's Day
    ],
)
def test_opening_time_is_working_time_and_closing_time_is_not(local: str, working: bool) -> None:
    cal = office()
    assert cal.is_working_time(at(cal, local)) is working


def test_next_working_time_during_working_hours_is_now() -> None:
    cal = office()
    now = at(cal, "2026-01-06 13:37")
    assert cal.next_working_time(now) == now
    assert cal.next_working_time(now).tzinfo is UTC


def test_next_working_time_before_opening_is_the_opening() -> None:
    cal = office()
    assert cal.next_working_time(at(cal, "2026-01-06 06:00")) == at(cal, "2026-01-06 09:00")


def test_next_working_time_at_friday_closing_is_monday_opening() -> None:
    cal = office()
    assert cal.next_working_time(at(cal, "2026-01-09 18:00")) == at(cal, "2026-01-12 09:00")


# --- whole business days ------------------------------------------------------------------------


def test_three_business_days_from_friday_afternoon_is_wednesday_afternoon() -> None:
    cal = office()
    assert cal.add_business_days(at(cal, "2026-01-09 16:00"), 3) == at(cal, "2026-01-14 16:00")


def test_one_business_day_skips_a_monday_holiday() -> None:
    cal = office(holidays=("2026-01-12",))
    assert cal.add_business_days(at(cal, "2026-01-09 16:00"), 1) == at(cal, "2026-01-13 16:00")


def test_business_days_from_the_weekend_count_from_monday_opening() -> None:
    cal = office()
    assert cal.add_business_days(at(cal, "2026-01-10 10:00"), 1) == at(cal, "2026-01-13 09:00")


def test_zero_business_days_is_the_next_working_time() -> None:
    cal = office()
    assert cal.add_business_days(at(cal, "2026-01-06 10:00"), 0) == at(cal, "2026-01-06 10:00")
    assert cal.add_business_days(at(cal, "2026-01-06 20:00"), 0) == at(cal, "2026-01-07 09:00")


def test_a_business_day_landing_after_a_short_fridays_closing_moves_to_monday_opening() -> None:
    cal = office(fri="09:00-15:00")
    assert cal.add_business_days(at(cal, "2026-01-08 16:00"), 1) == at(cal, "2026-01-12 09:00")


def test_business_days_keep_local_wall_time_across_dst() -> None:
    cal = berlin(sat=None, sun=None)
    assert cal.add_business_days(at(cal, "2026-03-27 10:00"), 1) == at(cal, "2026-03-30 10:00")


def test_a_negative_number_of_business_days_is_refused() -> None:
    cal = office()
    with pytest.raises(ValueError, match="negative"):
        cal.add_business_days(at(cal, "2026-01-06 10:00"), -1)


# --- working seconds between two instants ------------------------------------------------------


def test_no_working_time_passes_between_an_instant_and_itself() -> None:
    cal = office()
    assert cal.working_seconds_between(at(cal, "2026-01-06 10:00"), at(cal, "2026-01-06 10:00")) == 0.0


def test_a_weekend_adds_no_working_time() -> None:
    cal = office()
    assert cal.working_seconds_between(at(cal, "2026-01-09 17:00"), at(cal, "2026-01-12 10:00")) == 2 * HOUR
    assert cal.working_seconds_between(at(cal, "2026-01-10 08:00"), at(cal, "2026-01-11 20:00")) == 0.0


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-01-06 10:00", "2026-01-06 12:30", 2.5),
        ("2026-01-06 07:00", "2026-01-06 20:00", 9.0),
        ("2026-01-05 09:00", "2026-01-12 09:00", 45.0),
        ("2025-12-31 12:00", "2026-01-02 12:00", 9.0),  # holiday in between
    ],
)
def test_working_seconds_are_the_same_size_either_way_round(start: str, end: str, hours: float) -> None:
    cal = office()
    a, b = at(cal, start), at(cal, end)
    assert cal.working_seconds_between(a, b) == hours * HOUR
    assert cal.working_seconds_between(b, a) == -hours * HOUR


def test_working_seconds_between_agrees_with_add() -> None:
    cal = office()
    start = at(cal, "2026-01-08 15:20")
    due = cal.add(start, timedelta(hours=13, minutes=7))
    assert cal.working_seconds_between(start, due) == (13 * 60 + 7) * 60


# --- configuration ------------------------------------------------------------------------------


def test_config_builds_the_calendar_it_describes() -> None:
    cal = office()
    assert cal.name == "office"
    assert cal.timezone == "Asia/Shanghai"
    assert cal.hours[0] == (time(9), time(18))
    assert cal.hours[5] is None and cal.hours[6] is None  # sat null, sun missing: both closed
    assert cal.holidays == frozenset({date(2026, 1, 1)})


def test_config_accepts_holidays_that_yaml_already_parsed_as_dates() -> None:
    cfg = {"timezone": "Asia/Shanghai", "hours": OFFICE_HOURS, "holidays": [date(2026, 1, 1)]}
    assert BusinessCalendar.from_config("office", cfg).holidays == frozenset({date(2026, 1, 1)})


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"timezone": "Mars/Olympus", "hours": OFFICE_HOURS}, "unknown timezone 'Mars/Olympus'"),
        ({"hours": OFFICE_HOURS}, "'timezone' must be"),
        ({"timezone": "Asia/Shanghai"}, "'hours' must map"),
        ({"timezone": "Asia/Shanghai", "hours": {"mon": "9-18"}}, "hours.mon must be 'HH:MM-HH:MM'.*'9-18'"),
        ({"timezone": "Asia/Shanghai", "hours": {"tue": "18:00-09:00"}}, "hours.tue opens after it closes"),
        ({"timezone": "Asia/Shanghai", "hours": {"wed": "25:00-26:00"}}, "hours.wed has an impossible time"),
        ({"timezone": "Asia/Shanghai", "hours": {"monday": "09:00-18:00"}}, "unknown weekday.*monday"),
        ({"timezone": "Asia/Shanghai", "hours": {"sat": None}}, "no working day"),
        ({"timezone": "Asia/Shanghai", "hours": {}}, "no working day"),
        (
            {"timezone": "Asia/Shanghai", "hours": OFFICE_HOURS, "holidays": ["2026-13-01"]},
            "holiday '2026-13-01' is not a YYYY-MM-DD date",
        ),
        (
            {"timezone": "Asia/Shanghai", "hours": OFFICE_HOURS, "holidays": "2026-01-01"},
            "'holidays' must be",
        ),
        ({"timezone": "Asia/Shanghai", "hours": OFFICE_HOURS, "hollidays": []}, "unknown key.*'hollidays'"),
    ],
)
def test_invalid_config_is_refused_naming_the_calendar_and_the_problem(
    cfg: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"calendar 'office': {message}"):
        BusinessCalendar.from_config("office", cfg)


def test_a_calendar_closed_for_ten_years_gives_up_instead_of_looping() -> None:
    later_mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=n) for n in range(1, 53 * 11))
    only_mondays = (time(9), time(18)), None, None, None, None, None, None
    cal = BusinessCalendar("closed", "Asia/Shanghai", only_mondays, later_mondays)
    last_open_morning = at(cal, "2026-01-05 10:00")
    assert cal.next_working_time(last_open_morning) == last_open_morning
    with pytest.raises(ValueError, match="calendar 'closed': no working time within 3660 days"):
        cal.add(last_open_morning, timedelta(hours=9))
    with pytest.raises(ValueError, match="calendar 'closed': no working day within 3660 days"):
        cal.add_business_days(last_open_morning, 1)


# --- ISO 8601 durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", timedelta(hours=4)),
        ("PT30M", timedelta(minutes=30)),
        ("PT45S", timedelta(seconds=45)),
        ("P3D", timedelta(days=3)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1.5H", timedelta(hours=1, minutes=30)),
        ("P1W", timedelta(weeks=1)),
        ("P1W2D", timedelta(days=9)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT0S", timedelta()),
    ],
)
def test_iso_durations_of_weeks_days_and_hours_parse(text: str, expected: timedelta) -> None:
    assert parse_iso_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M3D", "P2MT1H"])
def test_months_and_years_are_refused_as_ambiguous_in_business_time(text: str) -> None:
    with pytest.raises(ValueError, match=f"'{text}' uses months or years"):
        parse_iso_duration(text)


@pytest.mark.parametrize("text", ["", "P", "PT", "4H", "PT-1H", "P1.5D", "PT4h", "4 hours", "P1DT"])
def test_malformed_durations_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid ISO 8601 duration '{text}'"):
        parse_iso_duration(text)
