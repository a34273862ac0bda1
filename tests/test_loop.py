"""The long-running mode: schedule, backoff, lock and stop, on a fake clock (no waiting)."""
from __future__ import annotations

import dataclasses
import random

import pytest

from xfinity_usage.locks import file_lock

from xfinity_usage.cli import loop as L
from xfinity_usage.errors import (
    AccessDeniedError,
    BadCredentialsError,
    SiteUnavailableError,
)
from xfinity_usage.history.report import Report
from xfinity_usage.reading import Reading

HOUR = 3600.0


def reading(used=400.0):
    return Reading(used=used, total=1229.0, units="GB", data_timestamp=1795900000, source="session")


class FakeTime:
    """A clock that moves only when the loop waits; records each wait."""

    def __init__(self, stop_after=None):
        self.now = 1795900000.0
        self.waits: list = []
        self.stop_after = stop_after

    def clock(self):
        return self.now

    def wait(self, seconds):
        self.waits.append(seconds)
        self.now += seconds
        return self.stop_after is not None and len(self.waits) >= self.stop_after


def make_loop(outcomes, *, interval=3600.0, seed=1, stop_after=None):
    fake = FakeTime(stop_after)
    lines: list = []
    results = iter(outcomes)

    def step():
        fake.now += 5  # a run takes a little while
        outcome = next(results)
        if isinstance(outcome, BaseException):
            raise outcome
        empty = Report.empty(outcome.units, outcome.total, "unused")
        return outcome, dataclasses.replace(empty, percent=outcome.used / outcome.total * 100, projected=1000.0)

    loop = L.Loop(step, L.Schedule(interval, random.Random(seed)), clock=fake.clock, wait=fake.wait,
                  out=lines.append, max_runs=len(outcomes), tz=None)
    return loop, fake, lines


def test_jitter_stays_within_ten_percent():
    schedule = L.Schedule(1000.0, random.Random(7))
    waits = [schedule.after_success() for _ in range(2000)]
    assert min(waits) >= 900 and max(waits) <= 1100
    assert max(waits) - min(waits) > 150  # it does vary


def test_backoff_doubles_and_is_capped():
    schedule = L.Schedule(600.0, random.Random(3))
    for failures in range(1, 12):
        wait = schedule.after_failure(failures)
        expected = min(600.0 * 2 ** failures, L.BACKOFF_CAP)
        assert expected * 0.9 <= wait <= min(expected * 1.1, L.BACKOFF_CAP)


def test_access_denied_waits_three_to_twenty_four_hours():
    schedule = L.Schedule(600.0, random.Random(5))
    for denials, base in ((1, 3), (2, 6), (3, 12), (4, 24), (9, 24)):
        for _ in range(200):
            wait = schedule.after_denied(denials)
            assert 3 * HOUR <= wait <= 24 * HOUR
            assert base * HOUR * 0.9 <= wait <= base * HOUR * 1.1


def test_one_line_per_run_with_source_figures_and_next_run():
    loop, fake, lines = make_loop([reading(400), reading(410), reading(420)])
    assert loop.run() == 0
    assert len(lines) == 3 and len(fake.waits) == 2
    assert "source session: used 400 GB of 1229 GB (33%), projected 1000 GB; next run " in lines[0]
    assert all(0.9 * HOUR <= w <= 1.1 * HOUR for w in fake.waits)


def test_failures_back_off_then_success_resets():
    outcomes = [SiteUnavailableError("503"), SiteUnavailableError("503"), reading(), reading()]
    loop, fake, lines = make_loop(outcomes, interval=600.0)
    loop.run()
    assert 1080 <= fake.waits[0] <= 1320  # 2 x interval
    assert 2160 <= fake.waits[1] <= 2640  # 4 x interval
    assert 540 <= fake.waits[2] <= 660  # back to the interval
    assert "failed: site unavailable: 503; next run" in lines[0]


def test_access_denied_waits_hours():
    loop, fake, lines = make_loop([AccessDeniedError("blocked"), AccessDeniedError("blocked"), reading()],
                                  interval=600.0)
    loop.run()
    assert 3 * HOUR <= fake.waits[0] <= 3.3 * HOUR
    assert 5.4 * HOUR <= fake.waits[1] <= 6.6 * HOUR


def test_failure_only_a_person_can_fix_ends_the_loop():
    loop, fake, lines = make_loop([reading(), BadCredentialsError("no"), reading()])
    with pytest.raises(BadCredentialsError):
        loop.run()
    assert len(lines) == 1


def test_stop_during_the_wait_and_interrupt_during_a_run():
    loop, fake, lines = make_loop([reading()] * 5, stop_after=2)
    assert loop.run() == 0
    assert len(lines) == 2  # the wait said stop: no third run
    loop, fake, lines = make_loop([reading(), KeyboardInterrupt(), reading()])
    assert loop.run() == 0 and len(lines) == 1 and not loop.busy


def test_request_stop_before_the_next_run():
    loop, fake, lines = make_loop([reading()] * 3)
    original = loop.step

    def step():
        result = original()
        loop.request_stop()
        return result

    loop.step = step
    loop.run()
    assert len(lines) == 1 and fake.waits == []


def test_second_process_on_the_same_account_is_refused(tmp_path):
    import subprocess
    import sys

    from xfinity_usage.cli.runs import hold_account

    class Client:
        lock_path = str(tmp_path / "cookies.json.lock")

        def account_lock(self):
            return file_lock(self.lock_path)

    other = ("import sys\nfrom xfinity_usage.locks import file_lock\nfrom xfinity_usage.cli.runs import hold_account\n"
             "class C:\n    def account_lock(self): return file_lock(sys.argv[1])\n"
             "try:\n    hold_account(C()).__enter__()\nexcept Exception as exc:\n"
             "    print(exc.exit_code, exc)\nelse:\n    print('held')\n")

    def second_process():
        done = subprocess.run([sys.executable, "-c", other, Client.lock_path], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with hold_account(Client()):
        with hold_account(Client()):  # this process again (the token refresh): re-entrant
            pass
        said = second_process()
        assert said.startswith("14 another xfinity-usage --interval process (pid ")
        assert "already runs for this account" in said
    assert second_process() == "held\n"  # released: free again


def test_interval_refuses_one_shot_options():
    from xfinity_usage.cli.main import build_parser
    from xfinity_usage.errors import ConfigError

    for extra in (["--report"], ["--warn", "80"], ["--json"]):
        args = build_parser().parse_args(["--demo", "--interval", "5", *extra])
        with pytest.raises(ConfigError, match="--interval"):
            L._check(args)
    args = build_parser().parse_args(["--interval", "5"])
    with pytest.raises(ConfigError, match="at least 60"):
        L._check(args)
