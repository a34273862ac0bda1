"""The clock-dependent logic at awkward instants, in several zones.

Half an hour into a month (and a year), half an hour before a month ends,
29 February 2028, both US daylight-saving days of 2027 (in New York and Los
Angeles), New Year's Eve; in UTC, New York, Los Angeles and Kiritimati
(UTC+14, where a day starts before anywhere else).

Each case is a billing cycle (the calendar month) on a meter counting
exactly 1 GB per real hour (1.6 GB in the heavy variant), read every six
hours since the cycle began and once more at the instant. So every
figure is known by hand: usage is the real hours gone, a day holds its real
hours (23 on the spring-forward day, 25 on the fall-back day), the last-24-
hour pace is 24 GB, and the projection is the month's real hours. The
hours in :data:`CASES` are worked out by hand, not by the code under test.
Before the cycle, the history holds the last two days of the previous one
at 2 GB per hour, over the cap: none of it may leak into this cycle.

The library takes ``now=`` and ``tz=``; the CLI, which asks the clock,
runs under time-machine at the instant, with the zone as the local one.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from typing import List
from zoneinfo import ZoneInfo

import pytest

from xfinity_usage.cli import loop
from xfinity_usage.history import projection as proj
from xfinity_usage.history.store import HistoryStore
from xfinity_usage.reading import Reading
from xfinity_usage.history.report import Report, State, build_report, check_state

from .fixtures_clock import travel
from .test_cli import run_cli

HOUR = 3600
CAP = 1229.0
UTC, NEW_YORK, LOS_ANGELES, KIRITIMATI = "UTC", "America/New_York", "America/Los_Angeles", "Pacific/Kiritimati"
ALL_ZONES = (UTC, NEW_YORK, LOS_ANGELES, KIRITIMATI)
US = (NEW_YORK, LOS_ANGELES)
#: Hours between two readings.
STEP = 6
#: The days that are not 24 hours long in the US zones, in the months of the cases.
US_DAY_HOURS = {datetime.date(2027, 3, 14): 23, datetime.date(2027, 11, 7): 25}


@dataclasses.dataclass(frozen=True)
class Case:
    """A local wall-clock instant in ``zone``, with the real hours gone and left in its month."""

    name: str
    wall: datetime.datetime  # naive; fold=1 for the second 01:30 of the fall-back night
    zone: str
    elapsed: float
    left: float

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def cycle(self) -> tuple:
        first = self.wall.date().replace(day=1)
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        return first, following - datetime.timedelta(days=1)

    @property
    def start(self) -> int:
        """Local midnight starting the cycle, in epoch seconds."""
        return int(datetime.datetime.combine(self.cycle[0], datetime.time(), self.tz).timestamp())

    @property
    def now(self) -> int:
        return int(self.wall.replace(tzinfo=self.tz).timestamp())

    @property
    def month_hours(self) -> float:
        return self.elapsed + self.left

    def __str__(self) -> str:
        return f"{self.name}-{self.zone.split('/')[-1]}"


def cases(name, wall, hours_by_zone) -> list:
    return [Case(name, wall, zone, *hours) for zone, hours in hours_by_zone.items()]


def everywhere(elapsed, left, us=None) -> dict:
    """The same hours in every zone, or other ones (``us``) in the US zones (a DST change that month)."""
    return {zone: (us if us and zone in US else (elapsed, left)) for zone in ALL_ZONES}


W = datetime.datetime
CASES = (
    # 1 January: a new month and a new year, 30 minutes in; January has 31 x 24 = 744 hours.
    cases("new-year-0030", W(2027, 1, 1, 0, 30), everywhere(0.5, 743.5))
    # 1 March: 744 hours, 743 in the US (clocks go forward on the 14th).
    + cases("march-first-0030", W(2027, 3, 1, 0, 30), everywhere(0.5, 743.5, us=(0.5, 742.5)))
    # The last day of a 30-day month (720 hours), 30 minutes before its end.
    + cases("april-last-2330", W(2027, 4, 30, 23, 30), everywhere(719.5, 0.5))
    # 29 February 2028: February has 29 x 24 = 696 hours.
    + cases("leap-day-noon", W(2028, 2, 29, 12, 0), everywhere(684.0, 12.0))
    + cases("leap-day-2330", W(2028, 2, 29, 23, 30), everywhere(695.5, 0.5))
    + cases("after-leap-day-0030", W(2028, 3, 1, 0, 30), everywhere(0.5, 743.5, us=(0.5, 742.5)))
    # 14 March 2027, spring forward at 02:00: 13 days (312 h) + 2.5 real hours to 03:30; 743 in March.
    + cases("spring-forward-0330", W(2027, 3, 14, 3, 30), {z: (314.5, 428.5) for z in US})
    + cases("spring-forward-noon", W(2027, 3, 14, 12, 0), {z: (323.0, 420.0) for z in US})
    + cases("day-after-spring-forward-0030", W(2027, 3, 15, 0, 30), {z: (335.5, 407.5) for z in US})
    # 7 November 2027, fall back at 02:00: 01:30 comes twice; 6 days (144 h) before it; 721 in November.
    + cases("fall-back-0130-first", W(2027, 11, 7, 1, 30), {z: (145.5, 575.5) for z in US})
    + cases("fall-back-0130-second", W(2027, 11, 7, 1, 30, fold=1), {z: (146.5, 574.5) for z in US})
    + cases("fall-back-noon", W(2027, 11, 7, 12, 0), {z: (157.0, 564.0) for z in US})
    + cases("day-after-fall-back-0030", W(2027, 11, 8, 0, 30), {z: (169.5, 551.5) for z in US})
    # New Year's Eve, 30 minutes before the year ends.
    + cases("new-years-eve-2330", W(2027, 12, 31, 23, 30), everywhere(743.5, 0.5))
)


def readings(case: Case, per_hour: float = 1.0) -> List[Reading]:
    """The previous cycle's last 48 hours at 2 GB/h, then this cycle at ``per_hour``, then the instant.

    One reading every :data:`STEP` hours: usage is even over real time, so what the code spreads
    evenly between two readings is exactly what the meter counted.
    """
    before_start, before_end = (case.cycle[0] - datetime.timedelta(days=1)).replace(day=1), \
        case.cycle[0] - datetime.timedelta(days=1)
    out = [Reading(used=1400.0 + 2.0 * hours, total=CAP, units="GB", data_timestamp=case.start - (48 - hours) * HOUR,
                   cycle_start=before_start, cycle_end=before_end, source="session")
           for hours in range(0, 48, STEP)]
    stamps = [case.start + hours * HOUR for hours in range(STEP, int(case.elapsed) + 1, STEP)]
    if case.now not in stamps:
        stamps.append(case.now)
    out += [Reading(used=round(per_hour * (t - case.start) / HOUR, 6), total=CAP, units="GB", data_timestamp=t,
                    cycle_start=case.cycle[0], cycle_end=case.cycle[1], source="session") for t in stamps]
    return out


@pytest.fixture(params=CASES, ids=str)
def case(request) -> Case:
    case = request.param
    # The hand-worked hours agree with the zone's rules (as Python's zoneinfo knows them).
    assert case.now - case.start == case.elapsed * HOUR
    return case


# ---------------------------------------------------------------- projection.py


def test_days_elapsed_and_left(case):
    elapsed, left = proj.days_elapsed_and_left(*case.cycle, case.now, case.zone)
    assert (elapsed * 24, left * 24) == pytest.approx((case.elapsed, case.left), abs=1e-9)


def test_daily_buckets_hold_each_days_real_hours_and_sum_to_the_used_figure(case):
    days = proj.daily_usage(readings(case), *case.cycle, case.zone)
    today = case.wall.date()
    assert [d.date for d in days] == [case.cycle[0] + datetime.timedelta(days=n) for n in range(today.day)]
    hours = [US_DAY_HOURS.get(d.date, 24) if case.zone in US else 24 for d in days[:-1]]
    assert [d.usage for d in days[:-1]] == pytest.approx(hours)
    assert days[-1].usage == pytest.approx(case.elapsed - sum(hours))  # today so far
    assert sum(d.usage for d in days) == pytest.approx(case.elapsed)  # the used figure


def test_projection_is_the_months_real_hours(case):
    cycle = readings(case)
    rate = proj.rate_last_24h(cycle, case.now, cycle_start=case.cycle[0], cycle_end=case.cycle[1], tz=case.zone)
    average = proj.average_per_day(case.elapsed, case.cycle[0], case.now, case.zone)
    projection = proj.project(case.elapsed, case.now, case.cycle[1], rate_24h=rate, average=average, tz=case.zone)
    assert average == pytest.approx(24.0)
    if case.elapsed < 24:  # not a day of this cycle yet: the previous cycle's readings do not count
        assert rate is None and projection.basis == proj.BASIS_CYCLE_AVERAGE
    else:
        assert rate == pytest.approx(24.0) and projection.basis == proj.BASIS_LAST_24H
    assert projection.projected == pytest.approx(case.month_hours)
    assert projection.projected < CAP  # minutes into a cycle too: no reading projects past the cap


# ---------------------------------------------------------------- report.py


def test_report_at_the_instant(case):
    *history, latest = readings(case)
    r = build_report(history, latest, now=case.now + 60, tz=case.zone)
    assert (r.cycle_start, r.cycle_end) == tuple(case.cycle)
    assert r.used == case.elapsed and r.as_of == case.now
    assert r.as_of_local.startswith(case.wall.strftime("%Y-%m-%d %H:%M"))
    assert (r.days_elapsed, r.days_left) == (round(case.elapsed / 24, 2), round(case.left / 24, 2))
    if case.elapsed < 24:  # less than a day of the cycle: too little to project from (MIN_AVERAGE_SPAN)
        assert r.projected is None and r.projection_basis is None
    else:
        assert r.projected == pytest.approx(case.month_hours, abs=0.001)
        assert r.projection_basis == proj.BASIS_LAST_24H
    assert sum(d.usage for d in r.daily) == pytest.approx(case.elapsed, abs=0.01)
    assert r.daily[-1].date == case.wall.date()
    assert r.daily_budget == pytest.approx((CAP - case.elapsed) / max(case.left / 24, 1.0), abs=0.001)
    assert r.readings == len(history) + 1 - 48 // STEP  # this cycle's only
    assert [(c.start, c.used) for c in r.past_cycles] == [
        ((case.cycle[0] - datetime.timedelta(days=1)).replace(day=1), 1400.0 + 2 * (48 - STEP))]
    assert not any("hours old" in note or "ended" in note for note in r.notes)


@pytest.mark.parametrize("per_hour,state", [(1.0, State.OK), (1.6, State.CRITICAL)])
def test_nagios_state_on_the_projection(case, per_hour, state):
    *history, latest = readings(case, per_hour)
    r = build_report(history, latest, now=case.now, tz=case.zone)
    got, line = check_state(r, warn=80, crit=90)
    if case.elapsed < 24:  # no projection on the cycle's first day: what is used so far (0.5 or 0.8 GB) is OK
        assert got is State.OK
        assert line.startswith("XFINITY USAGE OK - no projection yet, judged on the usage so far: ")
        assert f"used={per_hour * case.elapsed:g}GB;983.2;1106.1;0;1229" in line
        return
    projected = per_hour * case.month_hours  # 1.6 GB/h: 1114 GB (91 %) in February 2028, more elsewhere
    assert got is state
    assert line.startswith(f"XFINITY USAGE {state.name} - ")
    assert f"projected={projected:.2f}".rstrip("0").rstrip(".") + "GB;983.2;1106.1;0;1229" in line


# ---------------------------------------------------------------- the loop's line


RUN_LINES = [
    # started (local wall time), zone, the line's two stamps an hour apart
    (W(2027, 3, 14, 1, 30), NEW_YORK, "2027-03-14T01:30:00-05:00", "2027-03-14T03:30:00-04:00"),
    (W(2027, 3, 14, 1, 30), LOS_ANGELES, "2027-03-14T01:30:00-08:00", "2027-03-14T03:30:00-07:00"),
    (W(2027, 11, 7, 1, 30), NEW_YORK, "2027-11-07T01:30:00-04:00", "2027-11-07T01:30:00-05:00"),
    (W(2027, 11, 7, 1, 30), LOS_ANGELES, "2027-11-07T01:30:00-07:00", "2027-11-07T01:30:00-08:00"),
    (W(2027, 12, 31, 23, 30), UTC, "2027-12-31T23:30:00+00:00", "2028-01-01T00:30:00+00:00"),
    (W(2027, 12, 31, 23, 30), KIRITIMATI, "2027-12-31T23:30:00+14:00", "2028-01-01T00:30:00+14:00"),
    (W(2028, 2, 29, 23, 30), NEW_YORK, "2028-02-29T23:30:00-05:00", "2028-03-01T00:30:00-05:00"),
]


def run_line_at(wall, zone, tz):
    started = wall.replace(tzinfo=ZoneInfo(zone)).timestamp()
    r = Reading(used=312.5, total=CAP, units="GB", data_timestamp=int(started), source="app")
    report = dataclasses.replace(Report.empty("GB", CAP, "unused"), percent=25.43, projected=743.0)
    return loop.run_line(started, r, report, None, started + HOUR, tz)


RUN_LINE_IDS = [f"{zone.split('/')[-1]}-{head[:16]}" for _, zone, head, _ in RUN_LINES]


@pytest.mark.parametrize("wall,zone,head,tail", RUN_LINES, ids=RUN_LINE_IDS)
def test_run_line_with_its_zone(wall, zone, head, tail):
    line = run_line_at(wall, zone, ZoneInfo(zone))
    assert line == f"{head} source app: used 312 GB of 1229 GB (25%), projected 743 GB; next run {tail}"


@pytest.mark.parametrize("wall,zone,head,tail", RUN_LINES, ids=RUN_LINE_IDS)
def test_run_line_in_the_local_zone(wall, zone, head, tail):
    """As the CLI writes it (``tz=None``): the machine's zone, each stamp with the offset of its own
    instant (the next run may come after a DST change: 03:30-04:00, not 02:30-05:00)."""
    with travel(wall.replace(tzinfo=ZoneInfo(zone))):
        line = run_line_at(wall, zone, None)
    assert line.startswith(head + " ") and line.endswith(f"; next run {tail}")


# ---------------------------------------------------------------- the CLI, which asks the clock


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    """The CLI's history and cache directories, in the test's own folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def stored(tmp_path, history) -> str:
    path = str(tmp_path / "history.sqlite3")
    with HistoryStore(path) as store:
        for reading in history:
            assert store.record(reading)
    return path


def test_offline_report_says_the_real_age_of_the_newest_reading(case, tmp_path, private_dirs):
    """Three real hours, also across a DST change (where the wall clocks differ by two or four)."""
    now = case.now
    newest = now - 3 * HOUR - 60
    history = [r for r in readings(case) if r.data_timestamp < newest]
    history.append(dataclasses.replace(history[-1], used=history[-1].used + 0.25, data_timestamp=newest))
    db = stored(tmp_path, history)
    with travel(case.wall.replace(tzinfo=case.tz)):
        code, out, err = run_cli(["--offline", "--report", "-j", "--history-db", db], {})
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert report["notes"][0] == "offline: from the history alone; the newest reading is 3 hours old"
    assert report["as_of"] == newest and report["used"] == history[-1].used


def test_offline_check_at_the_instant(case, tmp_path, private_dirs):
    db = stored(tmp_path, readings(case))
    with travel(case.wall.replace(tzinfo=case.tz)):
        code, out, err = run_cli(["--offline", "--warn", "80", "--crit", "90", "--history-db", db], {})
    used = f"{case.elapsed:.0f}" if case.elapsed >= 100 else f"{case.elapsed:.1f}"  # 812, 41.4, 0.5
    projected = round(case.month_hours)
    assert (code, err) == (State.OK, "")
    if case.elapsed < 24:
        assert out.startswith(f"XFINITY USAGE OK - no projection yet, judged on the usage so far: {used} of "
                              f"1229 GB ({case.elapsed / CAP * 100:.0f}%) | ")
        return
    assert out.startswith(f"XFINITY USAGE OK - {used} of 1229 GB ({case.elapsed / CAP * 100:.0f}%), "
                          f"projected {projected} GB ({projected / CAP * 100:.0f}%) | ")
