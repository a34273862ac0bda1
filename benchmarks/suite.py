"""The test suite's wall time, the CPU it used, and how fast this machine's CPU was meanwhile.

    .venv/bin/python benchmarks/suite.py [pytest arguments ...]    # default: -n auto -q

Runs ``python -m pytest`` (as ``make test`` does) and prints its wall time,
the busy CPU-seconds of the whole machine during the run (from /proc/stat,
browsers included, whoever reaps them) and the share of both CPUs that was
busy. A fixed pure-Python loop is timed before and after: on a shared
virtual machine the same tree ran in 4 min 51 s and in 5 min 36 s on the
same day, and the loop took 2.1 s and 2.7 s, so compare runs by the loop too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from loop_memory import machine

#: The probe's work: a loop of this many additions (about 2 s on a 2026 server CPU).
PROBE_LOOPS = 20_000_000


def probe() -> float:
    """Seconds for :data:`PROBE_LOOPS` additions in pure Python: the CPU's speed right now."""
    started, total = time.perf_counter(), 0
    for number in range(PROBE_LOOPS):
        total += number
    return time.perf_counter() - started


def busy_and_total() -> tuple[float, float]:
    """The machine's busy and total CPU-seconds since boot (/proc/stat, all CPUs)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq + steal
    return busy / tick, (busy + idle + iowait) / tick


def main() -> int:
    args = sys.argv[1:] or ["-n", "auto", "-q"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    before = probe()
    busy0, total0 = busy_and_total()
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", *args], cwd=root)
    wall = time.monotonic() - started
    busy1, total1 = busy_and_total()
    after = probe()
    print(f"\nmachine: {machine()}")
    print(f"pytest {' '.join(args)}: exit {code}, wall {wall // 60:.0f} min {wall % 60:.0f} s, "
          f"busy CPU {busy1 - busy0:.0f} s ({100 * (busy1 - busy0) / (total1 - total0):.0f} % of all CPUs)")
    print(f"CPU probe ({PROBE_LOOPS:,} additions): {before:.2f} s before, {after:.2f} s after")
    return code


if __name__ == "__main__":
    sys.exit(main())
