"""When a schedule fires: AWS `cron()`, `rate()` and `at()` expressions evaluated in an IANA time zone.

Pure functions over plain data; the local runtime fires schedules on its own clock with them and
`dockhand jobs list` shows the next run. AWS cron has six fields (minutes hours day-of-month month
day-of-week year), `?` in one of the two day fields, day-of-week 1-7 = SUN-SAT, and `L`, `W`, `#`.
The five classic fields are evaluated by cronsim after converting the AWS spelling; the year field,
`nW` and the time zone are handled here.

Daylight saving time follows EventBridge Scheduler: a local time that does not exist (the clock jumps
over it) is skipped, a local time that happens twice fires once (at its first occurrence).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

_CRON = re.compile(r"^cron\((.+)\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MAX_FIRES = 100_000  # a bound on one call, so a minute-level cron over years cannot run away


class CronError(ValueError):
    """The expression is not valid AWS schedule syntax; the message says which part."""


def fire_times(
    expression: str, timezone: str, start: datetime, end: datetime, *, limit: int = _MAX_FIRES
) -> list[datetime]:
    """Every time in (start, end] the schedule fires, as aware UTC datetimes, oldest first.

    rate() schedules fire at whole multiples of their period counted from the Unix epoch (Scheduler
    counts from the schedule's creation; for a local clock and a "next run" column this is close enough).
    """
    start, end = _aware(start), _aware(end)
    if end <= start:
        return []
    zone = ZoneInfo(timezone)
    if m := _CRON.match(expression.strip()):
        return _cron_times(m.group(1), zone, start, end, limit)
    if m := _RATE.match(expression.strip()):
        value, unit = int(m.group(1)), m.group(2).rstrip("s")
        if value < 1:
            raise CronError(f"rate value must be at least 1, got {value}")
        period = value * _UNIT_SECONDS[unit]
        first = (int(start.timestamp()) // period + 1) * period
        out: list[datetime] = []
        t = first
        while t <= end.timestamp() and len(out) < limit:
            out.append(datetime.fromtimestamp(t, UTC))
            t += period
        return out
    if m := _AT.match(expression.strip()):
        local = datetime.fromisoformat(m.group(1))
        when = _to_utc(local, zone)
        return [when] if when is not None and start < when <= end else []
    raise CronError(f"{expression!r}: expected cron(...), rate(N unit) or at(yyyy-mm-ddThh:mm:ss)")


def next_fire(expression: str, timezone: str, after: datetime, horizon_days: int = 400) -> datetime | None:
    """The first fire time after `after` within the horizon, or None (a past at(), a year that never comes)."""
    after = _aware(after)
    times = fire_times(expression, timezone, after, after + timedelta(days=horizon_days), limit=1)
    return times[0] if times else None


def check_expression(expression: str, timezone: str = "UTC") -> None:
    """Raise CronError if the expression would be refused; cheap (parses, evaluates nothing)."""
    expression = expression.strip()
    if m := _CRON.match(expression):
        _parse_cron(m.group(1))
        return
    if _RATE.match(expression):
        if int(_RATE.match(expression).group(1)) < 1:  # type: ignore[union-attr]
            raise CronError("rate value must be at least 1")
        return
    if m := _AT.match(expression):
        try:
            datetime.fromisoformat(m.group(1))
        except ValueError as exc:
            raise CronError(f"at(): {exc}") from None
        return
    raise CronError(f"{expression!r}: expected cron(...), rate(N unit) or at(yyyy-mm-ddThh:mm:ss)")


# ------------------------------------------------------------------------------------------------- cron


class _Cron:
    def __init__(self, classic: str, years: set[int] | None, weekday_nearest: int | None) -> None:
        self.classic = classic  # five fields for cronsim
        self.years = years  # None: any year
        self.weekday_nearest = weekday_nearest  # the n of `nW`, filtered here


def _parse_cron(body: str) -> _Cron:
    fields = body.split()
    if len(fields) != 6:
        raise CronError(f"cron({body}): expected 6 fields (minutes hours day-of-month month day-of-week year)")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise CronError(f"cron({body}): exactly one of day-of-month and day-of-week must be '?'")
    weekday_nearest = None
    if m := re.fullmatch(r"(\d{1,2})W", dom):
        weekday_nearest = int(m.group(1))
        if not 1 <= weekday_nearest <= 31:
            raise CronError(f"cron({body}): day-of-month {dom} is out of range")
        dom = "*"
    classic = " ".join([minute, hour, "*" if dom == "?" else dom, month, "*" if dow == "?" else _dow(dow, body)])
    years = None if year == "*" else _years(year, body)
    try:
        CronSim(classic, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise CronError(f"cron({body}): {exc}") from None
    return _Cron(classic, years, weekday_nearest)


def _dow(field: str, body: str) -> str:
    """AWS numbers days 1-7 from Sunday; classic cron 0-6. Names pass through."""

    def shift(token: str) -> str:
        if token.isdigit():
            n = int(token)
            if not 1 <= n <= 7:
                raise CronError(f"cron({body}): day-of-week {n} is out of range 1-7")
            return str(n - 1)
        return token

    if field == "L":
        return "6"  # `L` alone: the last day of the week, Saturday
    items = []
    for item in field.split(","):
        base, slash, step = item.partition("/")
        if m := re.fullmatch(r"(\w+)(L|#\d)", base):
            base = shift(m.group(1)) + m.group(2)
        else:
            base = "-".join(shift(part) for part in base.split("-"))
        items.append(base + slash + step)
    return ",".join(items)


def _years(field: str, body: str) -> set[int]:
    years: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 1970, 2199
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = int(low_text), int(high_text)
        elif base.isdigit():
            low = int(base)
            high = 2199 if step_text else low
        else:
            raise CronError(f"cron({body}): year {field!r} is not a year, range or list")
        if not (1970 <= low <= high <= 2199) or step < 1:
            raise CronError(f"cron({body}): year {field!r} is out of range 1970-2199")
        years.update(range(low, high + 1, step))
    return years


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """Quartz `nW`: the weekday nearest to day n of the month, never leaving the month."""
    last = calendar.monthrange(year, month)[1]
    day = min(day, last)
    weekday = date(year, month, day).weekday()  # Monday 0 … Sunday 6
    if weekday == 5:  # Saturday → Friday, or Monday when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday → Monday, or Friday when Sunday is the last day
        return day + 1 if day < last else day - 2
    return day


def _cron_times(body: str, zone: ZoneInfo, start: datetime, end: datetime, limit: int) -> list[datetime]:
    spec = _parse_cron(body)
    # Walk naive local wall-clock times, then map each onto UTC: this is where DST is decided.
    local_start = start.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    local_end_year = end.astimezone(zone).year + 1
    out: list[datetime] = []
    for local in _walk(spec, local_start):
        if local.year > local_end_year or len(out) >= limit:
            break
        when = _to_utc(local, zone)
        if when is None or when <= start:
            continue
        if when > end:
            break
        if out and when == out[-1]:
            continue
        out.append(when)
    return out


def _walk(spec: _Cron, local_start: datetime) -> Iterator[datetime]:
    for local in CronSim(spec.classic, local_start):
        if spec.years is not None and local.year not in spec.years:
            if local.year > max(spec.years):
                return
            continue
        if spec.weekday_nearest is not None and local.day != _nearest_weekday(
            local.year, local.month, spec.weekday_nearest
        ):
            continue
        yield local


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC of a naive local time; None when the time does not exist there (skipped by a DST jump)."""
    first = local.replace(tzinfo=zone, fold=0)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return as_utc


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
