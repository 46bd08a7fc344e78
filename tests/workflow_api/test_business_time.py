"""The pure business-time module: hand-computed cases over weekends, holidays, DST switches, split and midnight
windows, week skipping against a day-by-day count, and the deadline with pauses."""
from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow_api.business_time import Schedule, deadline, parse_clock

MANILA = ZoneInfo("Asia/Manila")  # UTC+8, no DST
BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
H = timedelta(hours=1)


def at(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)


def office(zone: str = "Asia/Manila", holidays=(), hours=None) -> Schedule:
    return Schedule.build(zone, hours or NINE_TO_FIVE, holidays)


def test_parse_clock():
    assert parse_clock("09:30") == 9 * 3600 + 1800
    assert parse_clock("24:00") == 86400
    for bad in ("9:00", "24:01", "12:60", "ab:cd", "1200"):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_build_rejects_bad_calendars():
    with pytest.raises(ValueError):
        Schedule.build("UTC", {})  # no working hours at all
    with pytest.raises(ValueError):
        Schedule.build("UTC", {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]})  # overlap
    with pytest.raises(ValueError):
        Schedule.build("UTC", {"funday": [["09:00", "12:00"]]})
    with pytest.raises(ValueError):
        Schedule.build("UTC", {"mon": [["17:00", "09:00"]]})


def test_friday_afternoon_plus_eight_hours_is_monday_afternoon():
    # Fri 2026-12-04 15:00 Manila: 2 h left on Friday, 6 h on Monday from 09:00 -> Mon 15:00.
    assert office().add(at(MANILA, 2026, 12, 4, 15), 8 * H) == at(MANILA, 2026, 12, 7, 15)


def test_saturday_start_waits_for_monday_and_exact_close_ends_at_close():
    schedule = office()
    assert schedule.add(at(MANILA, 2026, 12, 5, 11), 3 * H) == at(MANILA, 2026, 12, 7, 12)
    # Exactly a day's hours from the opening: due at the close that day, not the next opening.
    assert schedule.add(at(MANILA, 2026, 12, 7, 9), 8 * H) == at(MANILA, 2026, 12, 7, 17)
    assert schedule.add(at(MANILA, 2026, 12, 7, 18), 1 * H) == at(MANILA, 2026, 12, 8, 10)
    assert schedule.add(at(MANILA, 2026, 12, 7, 18), timedelta(0)) == at(MANILA, 2026, 12, 7, 18)


def test_holidays_are_skipped():
    # Christmas (Fri) off: Thu 16:00 + 3 h = 1 h Thu, then Mon 28th 09:00 + 2 h.
    schedule = office(holidays=["2026-12-25"])
    assert schedule.add(at(MANILA, 2026, 12, 24, 16), 3 * H) == at(MANILA, 2026, 12, 28, 11)
    assert schedule.between(at(MANILA, 2026, 12, 24, 16), at(MANILA, 2026, 12, 28, 11)) == 3 * H


def test_split_windows_and_24h_days():
    lunch = {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}
    schedule = office(hours=lunch)
    assert schedule.add(at(MANILA, 2026, 12, 7, 11), 2 * H) == at(MANILA, 2026, 12, 7, 14)
    assert schedule.between(at(MANILA, 2026, 12, 7, 11), at(MANILA, 2026, 12, 7, 14)) == 2 * H
    # Mondays only: 8 h per week.
    assert schedule.add(at(MANILA, 2026, 12, 7, 17), 8 * H) == at(MANILA, 2026, 12, 14, 17)
    weekend = office(hours={"sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]})
    assert weekend.add(at(MANILA, 2026, 12, 5, 22), 4 * H) == at(MANILA, 2026, 12, 6, 2)
    assert weekend.add(at(MANILA, 2026, 12, 7, 22), 49 * H) == at(MANILA, 2026, 12, 19, 1)  # 48 h a weekend


def test_dst_switch_counts_real_time():
    # Berlin springs forward on Sun 2026-03-29 at 02:00 -> 03:00: that 00:00–24:00 Sunday lasts 23 h.
    sundays = Schedule.build("Europe/Berlin", {"sun": [["00:00", "24:00"]]})
    sunday = at(BERLIN, 2026, 3, 29, 0)
    assert sundays.between(sunday, at(BERLIN, 2026, 3, 30, 0)) == 23 * H
    assert sundays.add(sunday, 23 * H) == at(BERLIN, 2026, 3, 30, 0)
    assert sundays.add(sunday, 3 * H) == at(BERLIN, 2026, 3, 29, 4)  # 00–02 then 03–04 local
    # Falls back on Sun 2026-10-25: 25 h.
    assert sundays.between(at(BERLIN, 2026, 10, 25, 0), at(BERLIN, 2026, 10, 26, 0)) == 25 * H
    # 9–17 is unaffected; a deadline across the switch keeps the local clock: Fri 16:00 CET + 2 h = Mon 10:00 CEST.
    schedule = office("Europe/Berlin")
    assert schedule.add(at(BERLIN, 2026, 3, 27, 16), 2 * H) == at(BERLIN, 2026, 3, 30, 10)
    assert at(BERLIN, 2026, 3, 30, 10).utcoffset() == 2 * H


def test_week_skipping_matches_day_by_day_counting():
    """Long spans (weeks skipped) against the sum of small steps (no skipping), across DST and holidays."""
    schedule = office("Europe/Berlin", holidays=["2026-04-03", "2026-04-06", "2026-12-25", "2027-01-01"])
    rng = random.Random(7)
    for _ in range(40):
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        amount = timedelta(minutes=rng.randrange(1, 2000 * 60))
        end = schedule.add(start, amount)
        assert schedule.between(start, end) == amount
        stepped, cursor = timedelta(0), start
        while cursor < end:  # one day at a time, so no week is ever skipped
            step_end = min(cursor + timedelta(days=1), end)
            stepped += schedule.between(cursor, step_end)
            cursor = step_end
        assert stepped == amount


def test_a_year_long_sla_is_fast():
    schedule = office()
    start = at(MANILA, 2026, 1, 5, 9)
    end = schedule.add(start, timedelta(hours=40 * 52))
    assert end == at(MANILA, 2027, 1, 1, 17)  # 52 weeks of 40 h: the Friday before the 53rd Monday, at close
    assert schedule.between(start, end) == timedelta(hours=40 * 52)


def test_deadline_excludes_pauses():
    schedule = office()
    created = at(MANILA, 2026, 12, 4, 10)  # Fri 10:00, SLA 8 business hours
    assert deadline(schedule, created, 8 * H) == at(MANILA, 2026, 12, 7, 10)
    # Held Fri 12:00 (2 h used) to Mon 13:00: 6 h from Mon 13:00 -> Tue 11:00.
    held = [(at(MANILA, 2026, 12, 4, 12), at(MANILA, 2026, 12, 7, 13))]
    assert deadline(schedule, created, 8 * H, held) == at(MANILA, 2026, 12, 8, 11)
    # A pause after the deadline changes nothing; one before creation neither.
    late = [(at(MANILA, 2026, 12, 9, 9), at(MANILA, 2026, 12, 10, 9)), (at(MANILA, 2026, 12, 1, 9), created)]
    assert deadline(schedule, created, 8 * H, late) == at(MANILA, 2026, 12, 7, 10)
    # Round-the-clock: the pause length is simply added.
    assert deadline(None, created, 8 * H, held) == created + 8 * H + (held[0][1] - held[0][0])


def test_dates_in_holidays_accept_date_objects():
    assert office(holidays=[date(2026, 12, 7)]).add(at(MANILA, 2026, 12, 4, 17), H) == at(MANILA, 2026, 12, 8, 10)
