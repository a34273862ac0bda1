"""The long-running mode: ``--interval SECONDS`` reads, feeds every sink, waits, and again.

Rules (issue 12):

- the wait is the interval with a jitter of ±10% (:class:`Schedule`);
- runs never overlap: one run at a time in this process, and the
  account's lock (:func:`xfinity_usage.cli.runs.hold_account`: ``<cookie file>.lock``,
  or ``<token file>.lock`` on the app's route) makes a second process for the
  same account refuse to start (exit code 14); the lock is re-entrant in
  this process, so the app token's refresh runs under it;
- each run is :meth:`xfinity_usage.pipeline.Pipeline.run`, the one a single run
  makes too, on one pipeline: one client, so its warm paths (saved session
  cookies, the app token) spare the browser until a session or token needs
  it; a sink that fails is one stderr line naming it, and the others are fed;
- after a failure the wait doubles per failure in a row (up to
  :data:`BACKOFF_CAP`); after Access Denied it is 3, 6, 12 then 24 hours;
  failures a person must fix (credentials, MFA, an expired app sign-in,
  configuration) end the loop with their exit code;
- SIGTERM or SIGINT ends the loop at once: a run in progress is interrupted
  (the browser is shut down by its own clean-up), MQTT availability goes to
  ``offline``, ``/metrics`` stops, and the exit code is 0;
- each run writes one line on stdout: the time, the source, the figures and
  the next run's time.

:class:`Loop` holds the schedule and takes the run, the clock and the wait
as functions, so tests drive it without waiting.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import logging
import random
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from .. import options
from ..errors import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    ConfigError,
    ExitCode,
    LockedError,
    SignInExpiredError,
    XfinityUsageError,
)

if TYPE_CHECKING:
    from .environment import Environment
    from ..history.report import Report
    from ..reading import Reading

logger = logging.getLogger(__name__)

#: The interval is multiplied by a random factor in [1 - JITTER, 1 + JITTER].
JITTER = 0.10
#: Longest wait after failures in a row (unless the interval itself is longer).
BACKOFF_CAP = 6 * 3600.0
#: Waits after Access Denied: the first, doubled each time in a row, up to the last.
DENIED_MIN = 3 * 3600.0
DENIED_MAX = 24 * 3600.0
#: The shortest interval against the real site (the demo takes any positive interval).
MIN_INTERVAL = options.MIN_INTERVAL
#: Failures only a person can fix: the loop ends with their exit code instead of trying again.
FATAL = (BadCredentialsError, AccountActionRequiredError, SignInExpiredError, ConfigError, LockedError)


# ---------------------------------------------------------------- schedule


class Schedule:
    """How long to wait before the next run, given how the last ones went."""

    def __init__(self, interval: float, rng: Optional[random.Random] = None):
        self.interval = interval
        self.rng = rng or random.Random()

    def jittered(self, seconds: float) -> float:
        return seconds * self.rng.uniform(1 - JITTER, 1 + JITTER)

    def after_success(self) -> float:
        return self.jittered(self.interval)

    def after_failure(self, failures: int) -> float:
        """``failures`` in a row (1 or more): the interval doubled per failure, capped."""
        cap = max(self.interval, BACKOFF_CAP)
        return min(self.jittered(min(self.interval * 2 ** failures, cap)), cap)

    def after_denied(self, denials: int) -> float:
        """``denials`` Access Denied answers in a row: 3, 6, 12, then 24 hours, always within 3-24 h."""
        base = min(DENIED_MIN * 2 ** max(0, denials - 1), DENIED_MAX)
        return min(max(self.jittered(base), DENIED_MIN), DENIED_MAX)


# ---------------------------------------------------------------- the loop


class Loop:
    """Run ``step`` until stopped, waiting by the :class:`Schedule` between runs.

    ``step()`` returns ``(reading, report)`` or raises; ``wait(seconds)``
    returns True when the loop was asked to stop meanwhile; ``clock()`` is
    the wall time; ``out(line)`` writes the per-run line. ``max_runs`` ends
    the loop after that many runs (tests, benchmarks).
    """

    def __init__(self, step: Callable[[], tuple], schedule: Schedule, *,
                 clock: Callable[[], float] = time.time, wait: Optional[Callable[[float], bool]] = None,
                 out: Callable[[str], None], max_runs: Optional[int] = None, tz: Any = None):
        self.step = step
        self.schedule = schedule
        self.clock = clock
        self.stop_event = threading.Event()
        self.wait = wait or self.stop_event.wait
        self.out = out
        self.max_runs = max_runs
        self.tz = tz
        #: True while a run is in progress (a signal then interrupts it).
        self.busy = False
        self.runs = 0
        self.failures = 0
        self.denials = 0

    def request_stop(self) -> None:
        self.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def run(self) -> int:
        """Loop until stopped (exit code 0) or a failure only a person can fix (raised)."""
        while not self.stopping:
            started = self.clock()
            self.busy = True
            try:
                reading, report = self.step()
            except KeyboardInterrupt:
                self.busy = False
                logger.info("run interrupted")
                break
            except FATAL:
                self.busy = False
                raise
            except AccessDeniedError as exc:
                self.busy = False
                self.denials += 1
                delay = self.schedule.after_denied(self.denials)
                self._line(started, None, None, f"{exc.label}: {exc}", delay)
            except XfinityUsageError as exc:
                self.busy = False
                self.failures += 1
                delay = self.schedule.after_failure(self.failures)
                self._line(started, None, None, f"{exc.label}: {exc}", delay)
            else:
                self.busy = False
                self.failures = self.denials = 0
                delay = self.schedule.after_success()
                self._line(started, reading, report, None, delay)
            self.runs += 1
            if self.max_runs is not None and self.runs >= self.max_runs:
                break
            if self.stopping or self.wait(delay):
                break
        return int(ExitCode.OK)

    def _line(self, started: float, reading: Optional[Reading], report: Optional[Report],
              error: Optional[str], delay: float) -> None:
        self.out(run_line(started, reading, report, error, self.clock() + delay, self.tz))


def _stamp(when: float, tz: Any = None) -> str:
    """``when`` in ``tz``, else in local time with the offset in force at that instant (the next run
    may fall after a DST change)."""
    if tz is None:
        return datetime.datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")
    return datetime.datetime.fromtimestamp(when, tz).isoformat(timespec="seconds")


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else (f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}")


def run_line(started: float, reading: Optional[Reading], report: Optional[Report],
             error: Optional[str], next_run: float, tz: Any = None) -> str:
    """The one line a run writes: when, which source, the figures (or the failure), and the next run."""
    head = _stamp(started, tz)
    tail = f"next run {_stamp(next_run, tz)}"
    if reading is None:
        return f"{head} failed: {' '.join(str(error).split())}; {tail}"
    units = reading.units
    percent = report.percent if report is not None else None
    projected = report.projected if report is not None else None
    figures = f"used {_num(reading.used)} {units}"
    if reading.total is not None:
        figures += f" of {_num(reading.total)} {units}"
        if percent is not None:
            figures += f" ({percent:.0f}%)"
    else:
        figures += " (unlimited plan)"
    if projected is not None:
        figures += f", projected {_num(projected)} {units}"
    return f"{head} source {reading.source or 'unknown'}: {figures}; {tail}"


# ---------------------------------------------------------------- the CLI's side


def _check(args: argparse.Namespace) -> None:
    notify = getattr(args, "notify", None) is not None  # its thresholds: --warn/--crit are its to take
    for flag, given in (("--warn/--crit", (args.warn is not None or args.crit is not None) and not notify),
                        ("--report", args.report), ("--json", args.json),
                        ("--app-sign-in", getattr(args, "app_sign_in", False)),
                        ("--offline", getattr(args, "offline", False))):
        if given:
            raise ConfigError(f"--interval runs unattended and prints one line per run: leave out {flag}")
    if not args.demo and args.interval < MIN_INTERVAL:
        raise ConfigError(f"--interval {args.interval:g} is too short for the real site: use at least "
                          f"{MIN_INTERVAL:g} seconds")


def run_loop(args: argparse.Namespace, env: Environment, *, max_runs: Optional[int] = None,
             say: Optional[Callable[[str], None]] = None, wait: Optional[Callable[[float], bool]] = None) -> int:
    """``--interval``: the pipeline every interval, with every sink the command line asks for; returns
    the exit code. ``say(line)`` writes a sink's failure (default: to stderr); ``max_runs`` and
    ``wait`` are :class:`Loop`'s (tests, benchmarks)."""
    from .runs import open_pipeline

    _check(args)
    if say is None:
        def say(line: str) -> None:
            env.stderr.write(line + "\n")
            env.stderr.flush()

    with open_pipeline(args, env, long_running=True) as (pipeline, _client):
        for failure in pipeline.open_failures:
            say(failure.line)

        def step() -> tuple:
            outcome = pipeline.run()
            for failure in outcome.failures:
                say(failure.line)
            return outcome.reading, outcome.report

        def out(line: str) -> None:
            env.stdout.write(line + "\n")
            env.stdout.flush()

        loop = Loop(step, Schedule(args.interval), out=out, max_runs=max_runs, wait=wait)
        with _signals_stop(loop):
            try:
                code = loop.run()
            except KeyboardInterrupt:  # a signal between runs' bookkeeping
                code = int(ExitCode.OK)
        if loop.stopping:
            logger.info("stopped after %d run(s)", loop.runs)
        return code


@contextlib.contextmanager
def _signals_stop(loop: Loop) -> Iterator[None]:
    """SIGTERM and SIGINT stop the loop: at once between runs, by interrupting a run in progress."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        first = not loop.stopping
        loop.request_stop()
        if loop.busy and first:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
