"""Six-field NCRONTAB schedules (``{second} {minute} {hour} {day} {month} {day-of-week}``), as timer triggers use.

Fields take ``*``, numbers, ranges ``a-b``, lists ``a,b``, steps ``*/n`` and ``a-b/n``, and month and weekday
names (``Jan``, ``Mon``). Day-of-month and day-of-week must both match (NCrontab's rule). A ``hh:mm:ss`` TimeSpan
schedule (App Service plans) is an interval from the host's start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_NAMES = {
    **{
        m: i + 1
        for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
    },
    **{d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
)
_MAX_STEPS = 100_000


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def next_after(self, when: datetime) -> datetime:
        """The first matching second strictly after ``when``."""
        t = when.replace(microsecond=0) + timedelta(seconds=1)
        for _ in range(_MAX_STEPS):
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)).replace(day=1)
            elif t.day not in self.days or (t.weekday() + 1) % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ScheduleError("the schedule never fires")


@dataclass(frozen=True)
class Interval:
    every: timedelta

    def next_after(self, when: datetime) -> datetime:
        return when + self.every


def parse(schedule: str) -> Cron | Interval:
    text = schedule.strip()
    span = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", text)
    if span:
        d, h, m, s = (int(x) if x else 0 for x in span.groups())
        every = timedelta(days=d, hours=h, minutes=m, seconds=s)
        if every <= timedelta(0):
            raise ScheduleError(f"'{schedule}': an interval must be positive")
        return Interval(every)
    fields = text.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"'{schedule}': NCRONTAB needs six fields (second minute hour day month day-of-week), got {len(fields)}"
        )
    sets = [_field(f, name, lo, hi, schedule) for f, (name, lo, hi) in zip(fields, _FIELDS, strict=True)]
    return Cron(*sets)


def _field(text: str, name: str, lo: int, hi: int, schedule: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if rng == "*":
                start, end = lo, hi
            elif "-" in rng:
                a, b = rng.split("-", 1)
                start, end = _value(a), _value(b)
            else:
                start = _value(rng)
                end = hi if step_text else start
        except ValueError:
            raise ScheduleError(f"'{schedule}': cannot read the {name} field '{text}'") from None
        if name == "day-of-week" and end == 7:
            end = 6 if start != 7 else 0  # 7 is Sunday too
        if not (lo <= start <= hi and lo <= end <= hi) or step < 1 or start > end:
            raise ScheduleError(f"'{schedule}': the {name} field '{text}' is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str) -> int:
    return _NAMES[text] if text in _NAMES else int(text)
