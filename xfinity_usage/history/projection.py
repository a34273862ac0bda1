"""Usage per day, rates, end-of-cycle projection and daily budget: pure functions.

Readings are :class:`~xfinity_usage.reading.Reading` s, in any order;
those without a figure are left out. When a reading names its
``cycle_start``, it keeps readings of other cycles out; otherwise its time
decides.

Usage is the meter's running total for the cycle, which starts at zero at
local midnight on the cycle's first day, so that moment counts as a known
point. Between two known points usage is taken as even over real elapsed
time. A figure lower than the one before is Xfinity correcting itself: no
negative usage is counted, and the lower figure becomes the new base.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Iterable, List, NamedTuple, Optional, Union

from dateutil import tz as dateutil_tz

from ..reading import Reading

DAY = 86400.0
#: The cycle average is a pace to project from only once this much of the cycle has passed: half an
#: hour into a month, 2 GB read would project about 1,500 GB (and a check, a notification, CRITICAL).
MIN_AVERAGE_SPAN = DAY
#: ``rate_last_24h`` needs a known point at most this long before the latest one.
MAX_RATE_SPAN = 1.5 * DAY

#: Projection bases.
BASIS_LAST_24H = "last_24h"
BASIS_CYCLE_AVERAGE = "cycle_average"

TzLike = Union[datetime.tzinfo, str, None]


class DayUsage(NamedTuple):
    """Usage on one calendar day."""

    date: datetime.date
    usage: float


class _Point(NamedTuple):
    timestamp: float
    used: float
    cycle_start: Optional[datetime.date]


@dataclasses.dataclass
class Projection:
    """An end-of-cycle projection and what it rests on.

    ``basis`` is :data:`BASIS_LAST_24H`, :data:`BASIS_CYCLE_AVERAGE` or
    None (no projection); ``notes`` say why when it is not the first.
    """

    projected: Optional[float]
    basis: Optional[str]
    rate_per_day: Optional[float]
    notes: List[str] = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------- time


def resolve_tz(tz: TzLike = None) -> datetime.tzinfo:
    """A tzinfo: ``tz`` itself, a zone by name (``"America/New_York"``), or local time for None."""
    if tz is None:
        return dateutil_tz.tzlocal()
    if isinstance(tz, str):
        zone = dateutil_tz.gettz(tz)
        if zone is None:
            raise ValueError(f"unknown time zone {tz!r}")
        return zone
    return tz


def midnight(day: datetime.date, tz: TzLike = None) -> float:
    """Epoch seconds of local midnight starting ``day``."""
    return datetime.datetime.combine(day, datetime.time(), tzinfo=resolve_tz(tz)).timestamp()


def local_date(timestamp: float, tz: TzLike = None) -> datetime.date:
    """The local calendar date of an epoch timestamp."""
    return datetime.datetime.fromtimestamp(timestamp, resolve_tz(tz)).date()


def cycle_bounds(cycle_start: datetime.date, cycle_end: datetime.date, tz: TzLike = None) -> tuple:
    """``(start, end)`` in epoch seconds: midnight of the first day, midnight after the last."""
    return midnight(cycle_start, tz), midnight(cycle_end + datetime.timedelta(days=1), tz)


def days_elapsed_and_left(cycle_start: datetime.date, cycle_end: datetime.date, now: float,
                          tz: TzLike = None) -> tuple:
    """Real days (86400 s each, fractional) since the cycle began and until it ends, at ``now``.

    Both are clamped to the cycle: before it, nothing has elapsed; after
    it, nothing is left.
    """
    start, end = cycle_bounds(cycle_start, cycle_end, tz)
    now = min(max(now, start), end)
    return (now - start) / DAY, (end - now) / DAY


# ---------------------------------------------------------------- readings


def _points(readings: Iterable[Reading]) -> List[_Point]:
    """Readings as sorted points, without figure-less ones; the last of equal timestamps wins."""
    by_time = {}
    for reading in readings:
        if reading.used is None:
            continue
        timestamp = float(reading.data_timestamp)
        by_time[timestamp] = _Point(timestamp, float(reading.used), reading.cycle_start)
    return [by_time[t] for t in sorted(by_time)]


def _cycle_points(readings: Iterable[Reading], cycle_start: datetime.date, cycle_end: datetime.date,
                  tz: TzLike) -> List[_Point]:
    """The cycle's points, origin (its start, zero) first, times clamped into the cycle."""
    start, end = cycle_bounds(cycle_start, cycle_end, tz)
    points = [_Point(start, 0.0, cycle_start)]
    for point in _points(readings):
        if point.cycle_start is not None:
            if point.cycle_start != cycle_start:
                continue
        elif not start <= point.timestamp < end:
            continue
        # Clamped to the cycle's last second at the latest, so its last day holds it.
        points.append(point._replace(timestamp=min(max(point.timestamp, start), end - 1)))
    return points


def _segments(points: List[_Point]) -> list:
    """``[(t0, t1, delta)]`` between consecutive points; drops count as zero and rebase."""
    return [(a.timestamp, b.timestamp, max(0.0, b.used - a.used)) for a, b in zip(points, points[1:])]


def _overlap(t0: float, t1: float, delta: float, lo: float, hi: float) -> float:
    """The part of ``delta`` (even over ``t0..t1``) that falls in ``[lo, hi)``."""
    if t1 <= t0:  # an instant: all or nothing
        return delta if lo <= t0 < hi else 0.0
    covered = min(t1, hi) - max(t0, lo)
    return delta * covered / (t1 - t0) if covered > 0 else 0.0


# ---------------------------------------------------------------- figures


def daily_usage(readings: Iterable[Reading], cycle_start: datetime.date, cycle_end: datetime.date,
                tz: TzLike = None) -> List[DayUsage]:
    """Usage per calendar day of the cycle, from its first day to the day of the latest reading.

    Each increase between consecutive readings is spread evenly over the
    real time between them (so a 23- or 25-hour DST day gets its true
    share, and a gap of days is shared out evenly). Empty without readings.
    """
    tz = resolve_tz(tz)
    points = _cycle_points(readings, cycle_start, cycle_end, tz)
    if len(points) < 2:
        return []
    last_day = min(local_date(points[-1].timestamp, tz), cycle_end)
    days = []
    day = cycle_start
    while day <= last_day:
        days.append(day)
        day += datetime.timedelta(days=1)
    bounds = [midnight(d, tz) for d in days] + [midnight(last_day + datetime.timedelta(days=1), tz)]
    totals = [0.0] * len(days)
    for t0, t1, delta in _segments(points):
        if delta:
            for i in range(len(days)):
                totals[i] += _overlap(t0, t1, delta, bounds[i], bounds[i + 1])
    return [DayUsage(d, u) for d, u in zip(days, totals)]


def rate_last_24h(readings: Iterable[Reading], now: Optional[float] = None, *,
                  cycle_start: Optional[datetime.date] = None, cycle_end: Optional[datetime.date] = None,
                  tz: TzLike = None) -> Optional[float]:
    """Usage in the 24 hours up to the latest reading (at or before ``now``), per day.

    None when no known point lies 24 to 36 hours (:data:`MAX_RATE_SPAN`)
    before the latest reading, i.e. when there is not one day of data, or
    the nearest point is so old that the figure would be a long average.
    With ``cycle_start`` and ``cycle_end`` only that cycle counts, and its
    start (usage zero) is a known point.
    """
    if cycle_start is not None and cycle_end is not None:
        points = _cycle_points(readings, cycle_start, cycle_end, tz)
    else:
        points = _points(readings)
    if now is not None:
        points = [p for p in points if p.timestamp <= now]
    if len(points) < 2:
        return None
    latest = points[-1].timestamp
    window_start = latest - DAY
    before = [p for p in points if p.timestamp <= window_start]
    if not before or latest - before[-1].timestamp > MAX_RATE_SPAN:
        return None
    total = 0.0
    for t0, t1, delta in _segments(points):
        if t1 > t0:
            total += _overlap(t0, t1, delta, window_start, latest)
        elif window_start < t0 <= latest:
            total += delta
    return total


def average_per_day(used: float, cycle_start: datetime.date, now: float, tz: TzLike = None) -> Optional[float]:
    """``used`` over the real days since the cycle began; None at or before its start."""
    elapsed = (now - midnight(cycle_start, tz)) / DAY
    return used / elapsed if elapsed > 0 else None


def project_end_of_cycle(used: float, rate_per_day: float, now: float, cycle_end: datetime.date,
                         tz: TzLike = None) -> float:
    """``used`` at ``now`` plus ``rate_per_day`` for the rest of the cycle."""
    end = midnight(cycle_end + datetime.timedelta(days=1), tz)
    return used + rate_per_day * max(0.0, end - now) / DAY


def daily_budget(remaining: float, days_left: float) -> Optional[float]:
    """What can be used per day for the rest of the cycle and stay within the cap.

    Never negative (over the cap, the budget is zero). Less than a day left
    counts as one day: what remains can all be used today. None once the
    cycle is over.
    """
    if days_left <= 0:
        return None
    return max(remaining, 0.0) / max(days_left, 1.0)


def project(used: float, now: float, cycle_end: datetime.date, *, rate_24h: Optional[float],
            average: Optional[float], tz: TzLike = None, elapsed: Optional[float] = None) -> Projection:
    """Project to the cycle's end at the last-24-hour pace, else at the cycle average, but not at the
    cycle average before :data:`MIN_AVERAGE_SPAN` of the cycle has passed (``elapsed``, seconds).

    ``now`` is when ``used`` was read. The result says which pace it used
    (:attr:`Projection.basis`) and, in its notes, why not the first.
    """
    if rate_24h is not None:
        return Projection(project_end_of_cycle(used, rate_24h, now, cycle_end, tz), BASIS_LAST_24H, rate_24h)
    if average is not None and elapsed is not None and elapsed < MIN_AVERAGE_SPAN:
        return Projection(None, None, None, ["the cycle began less than a day ago: too little of it to "
                                             "project from"])
    if average is not None:
        return Projection(project_end_of_cycle(used, average, now, cycle_end, tz), BASIS_CYCLE_AVERAGE, average,
                          ["not 24 hours of readings yet: projecting at the cycle's average pace"])
    return Projection(None, None, None, ["the cycle has only just begun: no pace to project from"])


__all__ = [
    "BASIS_CYCLE_AVERAGE",
    "BASIS_LAST_24H",
    "DAY",
    "MIN_AVERAGE_SPAN",
    "DayUsage",
    "MAX_RATE_SPAN",
    "Projection",
    "average_per_day",
    "cycle_bounds",
    "daily_budget",
    "daily_usage",
    "days_elapsed_and_left",
    "local_date",
    "midnight",
    "project",
    "project_end_of_cycle",
    "rate_last_24h",
    "resolve_tz",
]
