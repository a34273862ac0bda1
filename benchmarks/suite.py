"""The test suite's wall time and the CPU it used.

    .venv/bin/python benchmarks/suite.py [pytest arguments ...]    # default: -n auto -q

Runs ``python -m pytest`` (as ``make test`` does) and prints its wall time,
the busy CPU-seconds of the whole machine during the run (from /proc/stat,
browsers included, whoever reaps them) and the share of both CPUs that was
busy. On this shared virtual machine the same tree (319d267) took 4 min 51 s
and 6 min 35 s on the same day, and a pure-Python loop timed alongside did
not show the difference: compare two trees back to back, not across hours.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from loop_memory import machine


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
    busy0, total0 = busy_and_total()
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", *args], cwd=root)
    wall = time.monotonic() - started
    busy1, total1 = busy_and_total()
    print(f"\nmachine: {machine()}")
    print(f"pytest {' '.join(args)}: exit {code}, wall {wall // 60:.0f} min {wall % 60:.0f} s, "
          f"busy CPU {busy1 - busy0:.0f} s ({100 * (busy1 - busy0) / (total1 - total0):.0f} % of all CPUs)")
    return code


if __name__ == "__main__":
    sys.exit(main())
