"""The clock of the tests: fixed instants instead of today, and time-machine where the code asks the clock.

No test depends on today's date or on the machine's time zone. Tests of
the library pass ``now=`` and ``tz=``. A test that drives code which asks
the clock itself (the CLI, which builds its report as of ``time.time()`` in
local time) moves the process's clock and zone with time-machine: the
``mid_cycle`` fixture, or :func:`travel` to an instant of its own.
time-machine changes ``time.time()``, ``datetime.now()``, ``date.today()``
and ``time.localtime()``, and sets ``TZ`` for a zone of ``zoneinfo``; it
leaves ``time.monotonic()`` alone, so timeouts and waits stay real.

The guard (:func:`calendar_guard`, autouse): every test of the modules in
:data:`GUARDED` that has not chosen its instant runs with the clock at
:data:`GUARD_INSTANT`, half an hour into a new year, a new month and a new
billing cycle, in New York. So a test of those modules that took "now"
from the machine and only passed in the middle of a month fails on every
run, not on the first days of each month. Modules whose tests start
servers (carbon, brokers, browsers, the simulated site) are not guarded:
those processes keep the real clock, and the tests that talk to them take
fixed dates for their data and the real clock for their timestamps.
"""
from __future__ import annotations

import datetime
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine

NEW_YORK = ZoneInfo("America/New_York")
#: The middle of a billing cycle: Saturday 14 November 2026, noon in New York (of a November cycle,
#: 13 days 13 hours are gone, as 1 November 2026 has 25 hours there, and 16.5 days are left).
MID_CYCLE = datetime.datetime(2026, 11, 14, 12, 0, tzinfo=NEW_YORK)
#: Where the guard puts the clock: 00:30 on 1 January 2027 in New York (05:30 UTC).
GUARD_INSTANT = datetime.datetime(2027, 1, 1, 0, 30, tzinfo=NEW_YORK)
#: Test modules whose tests run at :data:`GUARD_INSTANT` unless they choose an instant of their own.
GUARDED = frozenset({"test_calendar.py", "test_cli.py", "test_cli_manners.py", "test_history.py",
                     "test_loop.py", "test_projection.py", "test_report.py", "test_usage.py"})


def travel(when: datetime.datetime, *, tick: bool = True) -> time_machine.travel:
    """The process's clock at ``when`` (aware; a ``zoneinfo`` zone also becomes the local zone)."""
    if when.tzinfo is None:
        raise ValueError("travel needs an aware datetime: a naive one would mean the machine's zone")
    return time_machine.travel(when, tick=tick)


def local_zone(name: str) -> time_machine.travel:
    """The clock where it stands (real, or where a test put it), with zone ``name`` as the local zone."""
    return travel(datetime.datetime.now(ZoneInfo(name)))


@pytest.fixture
def mid_cycle() -> Iterator[datetime.datetime]:
    """The clock at :data:`MID_CYCLE`, ticking, with New York as the local zone."""
    with travel(MID_CYCLE):
        yield MID_CYCLE


@pytest.fixture(autouse=True)
def calendar_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests of :data:`GUARDED` modules start at :data:`GUARD_INSTANT` (see the module's docstring)."""
    if request.node.path.name not in GUARDED:
        yield
        return
    with travel(GUARD_INSTANT):
        yield
