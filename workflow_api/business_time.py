"""Business time over a calendar: working hours per weekday in an IANA time zone, minus holidays (pure, no I/O).

Windows are local wall-clock times, turned into instants with zoneinfo, so a day's window is as long as the clock
says (a 00:00–24:00 window lasts 23 h or 25 h on a DST switch; a 09:00–17:00 one is unaffected). Local times in a
DST gap or fold resolve as zoneinfo does with ``fold=0`` (the offset before the switch).

Long spans skip whole weeks: a 7-day window with no holiday and no UTC-offset change holds exactly the nominal week
of business time, so a year-long SLA costs about 52 steps, not 365 days of windows (and never a minute loop).
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DAY_SECONDS = 24 * 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)
_DAY_CACHE_SIZE = 4000  # about ten years of days


def parse_clock(value: str) -> int:
    """``"HH:MM"`` (``"24:00"`` allowed, for a window ending at midnight) as seconds after local midnight."""
    hours, _, minutes = value.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"{value!r} is not HH:MM")
    seconds = int(hours) * 3600 + int(minutes) * 60
    if int(minutes) > 59 or seconds > DAY_SECONDS:
        raise ValueError(f"{value!r} is not a time of day")
    return seconds


def weekly_hours_errors(weekly_hours: dict[str, Sequence[Sequence[str]]]) -> dict[str, list[str]]:
    """What is wrong with each weekday's windows (``{"tue": ["12:00–17:00 overlaps 09:00–13:00."]}``), so a form
    can show each message next to its day; empty when every day is well-formed."""
    errors: dict[str, list[str]] = {}
    for day, windows in weekly_hours.items():
        if day not in WEEKDAYS:
            errors[day] = [f"Not a weekday; use {', '.join(WEEKDAYS)}."]
            continue
        try:
            spans = sorted((parse_clock(start), parse_clock(end), f"{start}–{end}") for start, end in windows)
        except ValueError as exc:
            errors[day] = [f"{exc}."]
            continue
        messages = [f"{label} does not end after it starts." for start, end, label in spans if start >= end]
        messages += [
            f"{later[2]} overlaps {earlier[2]}."
            for earlier, later in zip(spans, spans[1:], strict=False)
            if earlier[1] > later[0]
        ]
        if messages:
            errors[day] = messages
    return errors


@dataclass(frozen=True)
class Schedule:
    """A calendar ready for arithmetic: ``hours[weekday]`` is that weekday's sorted, disjoint windows in seconds
    after local midnight; ``holidays`` are local dates with no business time."""

    zone: ZoneInfo
    hours: tuple[tuple[tuple[int, int], ...], ...]
    holidays: tuple[date, ...] = ()
    week_seconds: int = field(init=False)
    # Per local date: its midnight and business windows as instants. Tasks of one workflow share their days, so a
    # batch (intake, recompute, a monitor pass) converts each day once rather than once per task.
    _days: dict[date, tuple[datetime, list[tuple[datetime, datetime]]]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError("hours needs one entry per weekday")
        for windows in self.hours:
            for index, (start, end) in enumerate(windows):
                if not 0 <= start < end <= DAY_SECONDS or (index and windows[index - 1][1] > start):
                    raise ValueError("windows must be non-empty, within the day, sorted and disjoint")
        week = sum(end - start for windows in self.hours for start, end in windows)
        if week == 0:
            raise ValueError("a calendar needs some working hours")
        object.__setattr__(self, "holidays", tuple(sorted(set(self.holidays))))
        object.__setattr__(self, "week_seconds", week)

    @classmethod
    def build(cls, time_zone: str, weekly_hours: dict[str, Sequence[Sequence[str]]], holidays: Iterable[date | str] = ()) -> Schedule:
        """From the stored shape: ``{"mon": [["09:00", "17:00"]], ...}`` (missing weekdays: closed) and dates."""
        unknown = set(weekly_hours) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s): {', '.join(sorted(unknown))}")
        hours = tuple(
            tuple(sorted((parse_clock(start), parse_clock(end)) for start, end in weekly_hours.get(day, ())))
            for day in WEEKDAYS
        )
        days = (value if isinstance(value, date) else date.fromisoformat(value) for value in holidays)
        return cls(zone=ZoneInfo(time_zone), hours=hours, holidays=tuple(days))

    # --- local days as instants ------------------------------------------------------------------------------
    def _instant(self, day: date, seconds: int) -> datetime:
        """Local ``day`` + ``seconds`` of wall-clock time, as a UTC instant."""
        wall = datetime(day.year, day.month, day.day, tzinfo=self.zone) + timedelta(seconds=seconds)
        return wall.astimezone(UTC)

    def _day(self, day: date) -> tuple[datetime, list[tuple[datetime, datetime]]]:
        known = self._days.get(day)
        if known is None:
            if len(self._days) > _DAY_CACHE_SIZE:
                self._days.clear()
            windows = [] if self._is_holiday(day) else [
                (self._instant(day, start), self._instant(day, end)) for start, end in self.hours[day.weekday()]
            ]
            known = self._days[day] = (self._instant(day, 0), windows)
        return known

    def _midnight(self, day: date) -> datetime:
        return self._day(day)[0]

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        return self._day(day)[1]

    def _is_holiday(self, day: date) -> bool:
        index = bisect_left(self.holidays, day)
        return index < len(self.holidays) and self.holidays[index] == day

    def _plain_week(self, day: date) -> bool:
        """Whether the 7 local days from ``day`` hold exactly ``week_seconds``: no holiday, no offset change."""
        index = bisect_left(self.holidays, day)
        if index < len(self.holidays) and self.holidays[index] < day + _WEEK:
            return False
        return self._midnight(day) + _WEEK == self._midnight(day + _WEEK)

    def _local_day(self, instant: datetime) -> date:
        # The day before too: with a window ending at 24:00 a day's business time can reach into the next date.
        return instant.astimezone(self.zone).date() - _DAY

    # --- arithmetic -----------------------------------------------------------------------------------------
    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which ``amount`` of business time has elapsed from ``start``. A span ending exactly at
        the close of a window ends there (Friday 17:00, not Monday 09:00); zero or less returns ``start``."""
        if amount <= timedelta(0):
            return start
        remaining = amount
        cursor = start
        day = self._local_day(start)
        week = timedelta(seconds=self.week_seconds)
        while True:
            if cursor <= self._midnight(day) and remaining > week and self._plain_week(day):
                remaining -= week
                day += _WEEK
                cursor = self._midnight(day)
                continue
            for window_start, window_end in self._windows(day):
                if window_end <= cursor:
                    continue
                begin = max(window_start, cursor)
                if remaining <= window_end - begin:
                    return begin + remaining
                remaining -= window_end - begin
            day += _DAY
            cursor = max(cursor, self._midnight(day))

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end); zero when ``end`` is not after ``start``."""
        total = timedelta(0)
        if end <= start:
            return total
        day = self._local_day(start)
        last = end.astimezone(self.zone).date()
        week = timedelta(seconds=self.week_seconds)
        cursor = start
        while day <= last:
            if cursor <= self._midnight(day) and day + _WEEK <= last and self._plain_week(day):
                total += week
                day += _WEEK
                cursor = self._midnight(day)
                continue
            for window_start, window_end in self._windows(day):
                begin, finish = max(window_start, cursor), min(window_end, end)
                if begin < finish:
                    total += finish - begin
            day += _DAY
            cursor = max(cursor, self._midnight(day))
        return total


Pause = tuple[datetime, datetime]  # [started, ended) of a stopped clock


def deadline(schedule: Schedule | None, start: datetime, allowed: timedelta, pauses: Iterable[Pause] = ()) -> datetime:
    """When ``allowed`` business time (``schedule`` None: round-the-clock time) has run from ``start``, the clock
    stopped during ``pauses`` (closed intervals, any order, may overlap or predate ``start``)."""
    cursor, remaining = start, allowed
    for paused_from, paused_until in sorted(pauses):
        if paused_until <= cursor:
            continue
        worked = _elapsed(schedule, cursor, max(paused_from, cursor))
        if worked >= remaining:
            break
        remaining -= worked
        cursor = paused_until
    return cursor + remaining if schedule is None else schedule.add(cursor, remaining)


def _elapsed(schedule: Schedule | None, start: datetime, end: datetime) -> timedelta:
    if schedule is None:
        return max(end - start, timedelta(0))
    return schedule.between(start, end)
