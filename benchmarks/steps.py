"""Where a cold run's time goes: each step of a browser run against the simulated site.

    python benchmarks/steps.py [--browser chrome-headless] [--repeat 5]

A cold run (no saved session) is timed step by step from the library's own
log records: browser start, each sign-in page (as the login machine sees
it), the usage read, and the close (the browser's processes killed). Prints
the median of each step over the runs, the whole run, and the machine. Targets (issue 13): a cold run under
1.8 s in headless Chromium and under 3 s in headless Firefox.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.speed import machine  # noqa: E402
from xfinity_usage import XfinityUsage  # noqa: E402
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME, SimulatedSite  # noqa: E402

TARGETS = {"chrome-headless": 1.8, "firefox-headless": 3.0}


class Steps(logging.Handler):
    """Marks the time of the log records that start a step."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.marks: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.endswith("sources") and message.startswith(("starting", "signing in", "reading usage")):
            self.marks.append((time.perf_counter(), message.split(" (")[0]))
        elif record.name.endswith("login") and message.startswith("login: page is "):
            self.marks.append((time.perf_counter(), "sign-in: " + message[len("login: page is "):]))
        elif record.name.endswith("sources") and message.startswith("usage read with the browser"):
            self.marks.append((time.perf_counter(), "close"))


def one_run(browser: str) -> tuple[float, list[tuple[str, float]]]:
    handler = Steps()
    root = logging.getLogger("xfinity_usage")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with SimulatedSite() as site, tempfile.TemporaryDirectory() as tmp:
            client = XfinityUsage(DEMO_USERNAME, DEMO_PASSWORD, cookie_file=os.path.join(tmp, "c.json"),
                                  browser_name=browser, urls=site.urls, reuse_session=False)
            start = time.perf_counter()
            client.read()
            end = time.perf_counter()
    finally:
        root.removeHandler(handler)
    marks = handler.marks + [(end, "end")]
    steps = []
    for (t0, name), (t1, _) in zip(marks, marks[1:]):
        steps.append((name, t1 - t0))
    return end - start, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--browser", default="chrome-headless")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    one_run(args.browser)  # warm the disk cache; not counted
    totals, by_step = [], {}
    order: list[str] = []
    for _ in range(args.repeat):
        total, steps = one_run(args.browser)
        totals.append(total)
        seen: dict = {}
        for name, seconds in steps:
            key = name if name not in seen else f"{name} ({seen[name] + 1})"
            seen[name] = seen.get(name, 0) + 1
            if key not in by_step:
                order.append(key)
            by_step.setdefault(key, []).append(seconds)
    print(f"machine: {machine()}")
    print(f"cold run in {args.browser}, median of {args.repeat} (seconds)")
    for key in order:
        print(f"  {key:<32} {statistics.median(by_step[key]):6.3f}")
    median = statistics.median(totals)
    target = TARGETS.get(args.browser)
    verdict = "" if target is None else f"  (target {target:g} s: {'met' if median < target else 'NOT met'})"
    print(f"  {'whole run':<32} {median:6.3f}   min {min(totals):.3f} max {max(totals):.3f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
