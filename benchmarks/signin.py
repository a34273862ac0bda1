"""What one sign-in against the simulated site costs in each browser, by process.

    .venv/bin/python benchmarks/signin.py [--runs 5] [browser ...]

Default browsers: firefox-headless chrome-headless phantomjs, plus firefox and
chrome when DISPLAY is set. Each browser gets its own pool of running browsers
(``tests.fixtures_clients.SharedBrowsers``, as the tests use it), so its start
is not measured: one warm-up sign-in starts it, then ``--runs`` sign-ins with
``XfinityUsage(..., reuse_session=False, timeouts=FAST)`` are timed against
``SimulatedSite("normal")``, and the pool is closed.

Counted, from /proc/PID/stat (user + system ticks, plus those of reaped children):
processes descending from this one, or in the session of the pool's driver (it
starts with start_new_session, so a reparented browser process still shares its
session id; crash reporters that make their own session are not counted).
Processes with an empty cmdline (kernel threads, not zombies) are ignored. A
process that ended in the runs is counted in its reaper's children ticks, under
the reaper's kind. "python" is this process: the client and the threads of the
simulated site and of the pool's blank page. Kinds: comm, plus Chromium's --type.

Seen on 2026-11-29 with the lean browser options and PhantomJS's new connection per command
(before them: firefox-headless 0.96 s and 1.31 CPU-s, chrome-headless 1.69 s and 2.34,
phantomjs 2.25 s and 0.34; the figures move by 10-20 % between runs on this machine):

    machine: AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v782, Python 3.11.7
    firefox, chrome (windowed): skipped, no DISPLAY
    firefox-headless, per sign-in: 0.81 s wall; CPU-s: browser+driver 1.06, python 0.09 (9 processes; 0 started, 0 ended in the runs)
          0.78  firefox-esr
          0.23  Web Content
          0.02  WebExtensions
          0.02  geckodriver_lin
    chrome-headless, per sign-in: 1.33 s wall; CPU-s: browser+driver 1.79, python 0.08 (9 processes; 0 started, 0 ended in the runs)
          0.82  chromium
          0.52  chromium:renderer
          0.19  chromedriver
          0.19  chromium:gpu-process
    phantomjs, per sign-in: 0.54 s wall; CPU-s: browser+driver 0.30, python 0.10 (1 processes; 0 started, 0 ended in the runs)
          0.30  phantomjs-67932
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import tempfile
import time
from typing import Any, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loop_memory import machine  # noqa: E402
from tests.fixtures_clients import FAST, SharedBrowsers  # noqa: E402
from xfinity_usage import XfinityUsage, browsers  # noqa: E402
from xfinity_usage.simulator import SimulatedSite  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def processes(sids: set[int]) -> dict[tuple[int, int], tuple[str, float]]:
    """(pid, start time) -> (kind, CPU-seconds) of the counted processes, this one excepted."""
    found: dict[int, tuple[int, int, int, str, float]] = {}  # pid -> ppid, sid, start, kind, seconds
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{name}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone
        comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if not cmdline.strip() and fields[0] != "Z":
            continue  # a kernel thread
        kind = comm + (":" + cmdline.split("--type=")[1].split()[0] if "--type=" in cmdline else "")
        seconds = sum(int(value) for value in fields[11:15]) / TICK  # utime stime cutime cstime
        found[int(name)] = (int(fields[1]), int(fields[3]), int(fields[19]), kind, seconds)
    me, counted = os.getpid(), {}
    for pid, (ppid, sid, start, kind, seconds) in found.items():
        ancestor = ppid
        while ancestor not in (0, 1, me) and ancestor in found:
            ancestor = found[ancestor][0]
        if pid != me and (ancestor == me or sid in sids):
            counted[(pid, start)] = (kind, seconds)
    return counted


def measure(name: str, runs: int, site: SimulatedSite, tmp: str) -> None:
    pool, sids = SharedBrowsers(), set()

    @contextlib.contextmanager
    def tracked(browser: str, **kwargs: Any) -> Iterator[Any]:
        with pool.open(browser, **kwargs) as driver:
            sids.add(os.getsid(driver.service.process.pid))
            yield driver

    def sign_in(number: int) -> None:
        state = os.path.join(tmp, f"{name}-{number}")
        client = XfinityUsage(site.username, site.password, browser_name=name, urls=site.urls,
                              cookie_file=state + "-cookies.json", token_file=state + "-token.json",
                              reuse_session=False, timeout=60, retries=1, timeouts=FAST)
        assert client.read().used is not None

    real, browsers.open_browser = browsers.open_browser, tracked  # type: ignore[assignment]  # the pool's open
    try:
        sign_in(0)  # starts the browser
        before, cpu0, wall0 = processes(sids), os.times(), time.perf_counter()
        for number in range(1, runs + 1):
            sign_in(number)
        wall, cpu1, after = time.perf_counter() - wall0, os.times(), processes(sids)
        assert pool.uses == runs + 1 and pool.started == 1, (pool.uses, pool.started)
    finally:
        browsers.open_browser = real
        pool.close()
    kinds: dict[str, float] = collections.defaultdict(float)
    for key, (kind, seconds) in after.items():
        kinds[kind] += seconds - before.get(key, (kind, 0.0))[1]
    for key, (kind, seconds) in before.items():
        if key not in after:
            kinds[kind] -= seconds  # ended: its reaper's children ticks now hold them
    own = cpu1.user - cpu0.user + cpu1.system - cpu0.system
    born, ended = len(after.keys() - before.keys()), len(before.keys() - after.keys())
    print(f"{name}, per sign-in: {wall / runs:.2f} s wall; CPU-s: browser+driver {sum(kinds.values()) / runs:.2f}, "
          f"python {own / runs:.2f} ({len(after)} processes; {born} started, {ended} ended in the runs)")
    for kind, seconds in sorted(kinds.items(), key=lambda item: -item[1])[:4]:
        print(f"    {seconds / runs:6.2f}  {kind}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("browsers", nargs="*")
    opts = parser.parse_args()
    names = opts.browsers or ["firefox-headless", "chrome-headless", "phantomjs"]
    print(f"machine: {machine()}")
    if not opts.browsers:
        if os.environ.get("DISPLAY"):
            names += ["firefox", "chrome"]
        else:
            print("firefox, chrome (windowed): skipped, no DISPLAY")
    with SimulatedSite("normal") as site, tempfile.TemporaryDirectory(prefix="xfinity-usage-bench-") as tmp:
        for name in names:
            measure(name, opts.runs, site, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
