"""Business calendars: working hours, holidays and business-time arithmetic for due dates and timers.

All arithmetic walks working periods day by day in the calendar's local wall time and converts each
period boundary to UTC, so DST changes shorten or lengthen a day by exactly the real hours lost or
gained. Results are always timezone-aware UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import settings

# One (opening, closing) interval per weekday, or None when closed. A closing time of 00:00 means
# midnight at the end of the day, which is how "24:00" in config is kept.
DayHours = tuple[time, time] | None

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_IDLE_DAYS = 3660  # longer than any real run of closed days; beyond it the calendar is broken
_ZERO = timedelta()
_CONFIG_KEYS = {"timezone", "hours", "holidays"}
_HOURS_RE = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_DURATION_RE = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_CALENDAR_UNITS_RE = re.compile(r"^P[^T]*[YM]")  # Y or M before the T: years or months
_UNIT_SECONDS = {"weeks": 7 * 86400.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def max_duration_days() -> int:
    """The longest duration, and the furthest date from now, that process data and manifests may give."""
    return settings.get_int("FLOWDESK_MAX_DURATION_DAYS")


def _bounded_parts(text: str, match: re.Match[str]) -> dict[str, float]:
    """The duration's parts as floats, refused before any arithmetic when the whole is over the maximum
    (a 12-digit hour count would otherwise overflow timedelta, and business days would be walked one by one)."""
    parts = {unit: float(value) for unit, value in match.groupdict().items() if value is not None}
    limit = max_duration_days()
    if sum(_UNIT_SECONDS[unit] * value for unit, value in parts.items()) > limit * 86400.0:
        raise ValueError(f"duration {text.strip()[:40]!r} is longer than the maximum of {limit} days "
                         "(FLOWDESK_MAX_DURATION_DAYS)")
    return parts


def check_date(value: datetime, now: datetime) -> datetime:
    """The date-time, unless it lies further than the maximum duration from now (ValueError)."""
    limit = max_duration_days()
    if abs((value - now).total_seconds()) > limit * 86400.0:
        raise ValueError(f"date-time {value.isoformat()} is more than {limit} days from now "
                         "(FLOWDESK_MAX_DURATION_DAYS)")
    return value


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (0=Mon..6=Sun) in one IANA time zone, minus holidays (local dates).

    `add` counts working hours; `add_business_days` counts whole working days.
    """

    name: str
    timezone: str
    hours: tuple[DayHours, ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"calendar {self.name!r}: unknown timezone {self.timezone!r}") from exc
        if len(self.hours) != 7:
            raise ValueError(f"calendar {self.name!r}: hours needs 7 weekdays, got {len(self.hours)}")
        for weekday, interval in enumerate(self.hours):
            if interval is not None and not _opens_before_closing(*interval):
                raise ValueError(f"calendar {self.name!r}: {WEEKDAYS[weekday]} opens after it closes")
        if all(interval is None for interval in self.hours):
            raise ValueError(f"calendar {self.name!r}: no working day in the week")

    @classmethod
    def from_config(cls, name: str, cfg: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from its `org.yaml` entry; weekdays missing from `hours` are closed."""
        if not isinstance(cfg, Mapping):
            raise ValueError(f"calendar {name!r}: expected a mapping, got {cfg!r}")
        unknown = sorted(set(cfg) - _CONFIG_KEYS)
        if unknown:
            raise ValueError(f"calendar {name!r}: unknown key(s) {', '.join(map(repr, unknown))}")
        tz = cfg.get("timezone")
        if not isinstance(tz, str) or not tz:
            raise ValueError(f"calendar {name!r}: 'timezone' must be an IANA zone name, got {tz!r}")
        raw_hours = cfg.get("hours")
        if not isinstance(raw_hours, Mapping):
            raise ValueError(
                f"calendar {name!r}: 'hours' must map weekdays to 'HH:MM-HH:MM', got {raw_hours!r}"
            )
        bad_days = sorted(str(day) for day in raw_hours if day not in WEEKDAYS)
        if bad_days:
            raise ValueError(f"calendar {name!r}: unknown weekday(s) in hours: {', '.join(bad_days)}")
        hours = tuple(_parse_hours(name, day, raw_hours.get(day)) for day in WEEKDAYS)
        raw_holidays = cfg.get("holidays") or []
        if not isinstance(raw_holidays, list | tuple):
            raise ValueError(f"calendar {name!r}: 'holidays' must be a list of dates, got {raw_holidays!r}")
        holidays = frozenset(_parse_holiday(name, value) for value in raw_holidays)
        return cls(name=name, timezone=tz, hours=hours, holidays=holidays)

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)  # zoneinfo caches instances, so this is cheap

    def is_working_time(self, at: datetime) -> bool:
        """Whether `at` falls inside a working period (opening inclusive, closing exclusive)."""
        _require_aware(at)
        period = self._period_on(at.astimezone(self.zone).date())
        return period is not None and period[0] <= at < period[1]

    def next_working_time(self, at: datetime) -> datetime:
        """`at` itself if it is working time, else the start of the next working period (UTC)."""
        _require_aware(at)
        opening, _ = next(self._periods_from(at))
        return max(opening, at.astimezone(UTC))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Add `duration` of working time to `start`; only working hours count.

        A start outside working hours begins counting at the next opening. A zero duration gives
        `next_working_time(start)`. A due time that uses up a period exactly lands on its closing time.
        """
        _require_aware(start)
        if duration < _ZERO:
            raise ValueError(f"calendar {self.name!r}: cannot add a negative duration ({duration})")
        cursor = start.astimezone(UTC)
        remaining = duration
        for opening, closing in self._periods_from(cursor):
            cursor = max(opening, cursor)
            available = closing - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        raise AssertionError("unreachable: _periods_from never ends")

    def add_iso(self, start: datetime, text: str) -> datetime:
        """Add an ISO duration in business terms: its days (a week being five) are working days, its
        hours, minutes and seconds working time. `P3D` from Thursday 15:00 is Tuesday 15:00."""
        match = _DURATION_RE.match(text.strip())
        if match is None:
            parse_iso_duration(text)  # raises the precise error
            raise ValueError(f"invalid ISO 8601 duration {text!r}")
        parts = _bounded_parts(text, match)
        days = parts.pop("days", 0.0) + 5 * parts.pop("weeks", 0.0)
        if days != int(days):
            raise ValueError(f"duration {text!r}: business days must be whole")
        due = self.add_business_days(start, int(days)) if days else start
        return self.add(due, timedelta(**parts))

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day `days` working days later, moved forward into working time.

        A start outside working hours counts from the next opening, so work arriving after closing is
        treated as arriving the next working morning.
        """
        _require_aware(start)
        if days < 0:
            raise ValueError(f"calendar {self.name!r}: cannot add a negative number of days ({days})")
        local = self.next_working_time(start).astimezone(self.zone)
        day = local.date()
        for _ in range(days):
            day = self._next_working_date(day)
        target = datetime.combine(day, local.time(), self.zone)
        return self.next_working_time(target)

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working seconds from `a` to `b`; negative when `b` is before `a`."""
        _require_aware(a)
        _require_aware(b)
        if b < a:
            return -self.working_seconds_between(b, a)
        total = _ZERO
        for opening, closing in self._periods_from(a):
            if opening >= b:
                break
            total += min(closing, b) - max(opening, a)
        return total.total_seconds()

    def _period_on(self, day: date) -> tuple[datetime, datetime] | None:
        interval = self.hours[day.weekday()]
        if interval is None or day in self.holidays:
            return None
        opening, closing = interval
        # Wall-clock boundaries converted one by one: a DST change inside the period changes its
        # real length, which is exactly the time staff actually work that day. A wall time that a
        # change skips or repeats resolves with fold=0, i.e. by the offset in force before the change.
        start = datetime.combine(day, opening, self.zone)
        end_day, end_time = (day + timedelta(days=1), time()) if closing == time() else (day, closing)
        end = datetime.combine(end_day, end_time, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def _periods_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods (UTC) that end after `at`, in order, without end."""
        day = at.astimezone(self.zone).date()
        idle = 0
        while True:
            period = self._period_on(day)
            if period is not None and period[1] > at:
                idle = 0
                yield period
            else:
                idle += 1
                if idle > MAX_IDLE_DAYS:
                    raise ValueError(
                        f"calendar {self.name!r}: no working time within {MAX_IDLE_DAYS} days after {day}"
                    )
            day += timedelta(days=1)

    def _next_working_date(self, day: date) -> date:
        for offset in range(1, MAX_IDLE_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self._period_on(candidate) is not None:
                return candidate
        raise ValueError(f"calendar {self.name!r}: no working day within {MAX_IDLE_DAYS} days after {day}")


def parse_iso_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds (`PT4H`, `P1DT2H`, `PT1.5H`)."""
    match = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        if isinstance(text, str) and _CALENDAR_UNITS_RE.match(text.strip()):
            raise ValueError(f"duration {text!r} uses months or years, which are ambiguous in business time")
        raise ValueError(f"invalid ISO 8601 duration {str(text)[:40]!r} (expected e.g. PT4H, P3D, P1DT2H)")
    return timedelta(**_bounded_parts(text, match))


def _parse_hours(name: str, day: str, value: object) -> DayHours:
    if value is None:
        return None
    match = _HOURS_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"calendar {name!r}: hours.{day} must be 'HH:MM-HH:MM' or null, got {value!r}")
    oh, om, ch, cm = (int(group) for group in match.groups())
    if (ch, cm) == (24, 0):
        ch = 0  # midnight at the end of the day
    if not (oh < 24 and ch < 24 and om < 60 and cm < 60):
        raise ValueError(f"calendar {name!r}: hours.{day} has an impossible time: {value!r}")
    interval = (time(oh, om), time(ch, cm))
    if not _opens_before_closing(*interval):
        raise ValueError(f"calendar {name!r}: hours.{day} opens after it closes: {value!r}")
    return interval


def _parse_holiday(name: str, value: object) -> date:
    # YAML turns an unquoted 2026-01-01 into a date already; a datetime is a date too, so exclude it.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"calendar {name!r}: holiday {value!r} is not a YYYY-MM-DD date")


def _opens_before_closing(opening: time, closing: time) -> bool:
    return closing == time() or opening < closing


def _require_aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"business calendars need timezone-aware datetimes, got naive {dt.isoformat()}")
