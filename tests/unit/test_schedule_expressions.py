"""AWS schedule expressions evaluated in a time zone, across daylight-saving changes, as Scheduler fires them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockhand.schedule_expressions import CronError, check_expression, fire_times, next_fire


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_berlin_cron_across_the_spring_change_skips_the_missing_hour() -> None:
    # Given a daily 02:30 job in Europe/Berlin; on 2026-03-29 clocks jump from 02:00 to 03:00
    # When the fire times around that night are computed
    times = fire_times("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 3, 27), utc(2026, 3, 31))
    # Then 02:30 CET is 01:30 UTC before, the nonexistent 02:30 on the 29th is skipped, 02:30 CEST is 00:30 UTC after
    assert times == [utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 3, 30, 0, 30)]


def test_berlin_cron_across_the_autumn_change_fires_the_repeated_hour_once() -> None:
    # Given the same job; on 2026-10-25 clocks go back from 03:00 to 02:00, so 02:30 happens twice
    times = fire_times("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 10, 24), utc(2026, 10, 27))
    # Then it fires once that night, at the first 02:30 (CEST, 00:30 UTC), and at 01:30 UTC once back on CET
    assert times == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_hourly_cron_in_berlin_keeps_local_hours_across_the_change() -> None:
    # Given an hourly job between 01:00 and 04:00 local time
    times = fire_times("cron(0 1-4 * * ? *)", "Europe/Berlin", utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    # Then 01:00 CET, 03:00 and 04:00 CEST fire (02:00 does not exist that night)
    assert times == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        # AWS day-of-week counts 1=SUN: 2-6 is Monday to Friday (2026-03-27 is a Friday)
        ("cron(0 9 ? * 2-6 *)", utc(2026, 3, 27), [utc(2026, 3, 27, 9), utc(2026, 3, 30, 9)]),
        ("cron(0 9 ? * MON-FRI *)", utc(2026, 3, 27), [utc(2026, 3, 27, 9), utc(2026, 3, 30, 9)]),
        # last day of the month, last Friday (6L), second Tuesday (3#2)
        ("cron(0 0 L * ? *)", utc(2026, 1, 30), [utc(2026, 1, 31), utc(2026, 2, 28)]),
        ("cron(0 12 ? * 6L *)", utc(2026, 3, 1), [utc(2026, 3, 27, 12), utc(2026, 4, 24, 12)]),
        ("cron(0 12 ? * 3#2 *)", utc(2026, 3, 1), [utc(2026, 3, 10, 12), utc(2026, 4, 14, 12)]),
        # nearest weekday to the 15th: 2026-02-15 is a Sunday → Monday the 16th
        ("cron(0 9 15W * ? *)", utc(2026, 2, 1), [utc(2026, 2, 16, 9), utc(2026, 3, 16, 9)]),
        # steps and lists
        ("cron(0/20 8 * * ? *)", utc(2026, 1, 1), [utc(2026, 1, 1, 8), utc(2026, 1, 1, 8, 20)]),
        # the year field
        ("cron(0 0 1 1 ? 2028,2030)", utc(2026, 1, 1), [utc(2028, 1, 1), utc(2030, 1, 1)]),
    ],
)
def test_aws_cron_syntax(expression: str, start: datetime, expected: list[datetime]) -> None:
    times = fire_times(expression, "UTC", start, utc(2031, 1, 1), limit=len(expected))
    assert times == expected


def test_rate_and_at() -> None:
    # Given a rate and a one-time schedule
    rate = fire_times("rate(15 minutes)", "UTC", utc(2026, 1, 1, 0, 7), utc(2026, 1, 1, 0, 50))
    at = fire_times("at(2026-12-01T10:00:00)", "Europe/Berlin", utc(2026, 1, 1), utc(2027, 1, 1))
    # Then the rate fires on its period and the at() once, at its local time in UTC
    assert rate == [utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 45)]
    assert at == [utc(2026, 12, 1, 9)]
    assert next_fire("at(2026-12-01T10:00:00)", "Europe/Berlin", utc(2026, 12, 2)) is None


def test_interval_is_open_at_the_start_and_closed_at_the_end() -> None:
    times = fire_times("cron(0 * * * ? *)", "UTC", utc(2026, 1, 1, 1), utc(2026, 1, 1, 3))
    assert times == [utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 5 * * 1 *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 5 * *)", "expected 6 fields"),
        ("cron(0 5 ? * 8 *)", "day-of-week 8 is out of range"),
        ("cron(61 5 * * ? *)", "cron"),
        ("cron(0 5 * * ? 1969)", "out of range 1970-2199"),
        ("every day", "expected cron"),
    ],
)
def test_invalid_expressions_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        check_expression(expression)
