"""Soak test: many CLI runs against the simulated site with random faults.

    python benchmarks/soak.py --runs 200 --fault-rate 0.1 --browser chrome-headless

Starts the simulator with faults injected at random on every request,
runs ``xfinity-usage -j --fresh-login`` against it RUNS times (one
process each, as cron would) and prints: runs succeeded, runs failed by
exit code, wrong values reported, browser/driver processes leaked, and
median and p95 wall time. ``access_denied`` is left out of the faults: it
is permanent by design (the tool backs off for an hour).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.proctools import MARKER_ENV, browser_processes  # noqa: E402
from xfinity_usage.errors import ExitCode  # noqa: E402

FAULTS = "blank,error500,error503,reset,slow,truncated,no_usage_months"


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return f"{platform.platform()}, Python {platform.python_version()}, {cpus} CPUs, {mem_kb / 2**20:.0f} GiB"


def start_site(args, tmp):
    cmd = [sys.executable, "-m", "xfinity_usage.simulator", "--scenario", "normal",
           "--fault-rate", str(args.fault_rate), "--seed", str(args.seed), "--fault-kinds", FAULTS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    urls_file = os.path.join(tmp, "urls.json")
    with open(urls_file, "w") as handle:
        json.dump(info["urls"], handle)
    return proc, info, urls_file


def percentile(values, pct):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(pct / 100 * (len(values) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--browser", default="chrome-headless")
    parser.add_argument("--warm", action="store_true", help="reuse the session (no --fresh-login)")
    args = parser.parse_args()
    outcomes = collections.Counter()
    wrong = leaked = 0
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        site, info, urls_file = start_site(args, tmp)
        expected = {"used": 424.0, "total": 1229.0, "units": "GB"}
        marker = f"soak-{os.getpid()}"  # count only the browsers of our own runs
        env = dict(os.environ, XFINITY_USER=info["username"], XFINITY_PASSWORD=info["password"],
                   XDG_DATA_HOME=os.path.join(tmp, "data"), XDG_CACHE_HOME=os.path.join(tmp, "cache"))
        env[MARKER_ENV] = marker
        try:
            for n in range(args.runs):
                before = browser_processes(marker)
                cmd = [sys.executable, "-m", "xfinity_usage", "-j", "-b", args.browser, "--site-urls", urls_file,
                       "-c", os.path.join(tmp, "cookies.json"), "--timeout", "120"]
                if not args.warm:
                    cmd.append("--fresh-login")
                start = time.monotonic()
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
                times.append(time.monotonic() - start)
                if proc.returncode == 0:
                    reading = json.loads(proc.stdout)
                    if {k: reading[k] for k in expected} != expected:
                        wrong += 1
                    outcomes["ok"] += 1
                else:
                    outcomes[ExitCode(proc.returncode).name.lower()] += 1
                    print(f"run {n}: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                deadline = time.monotonic() + 5
                while (browser_processes(marker) - before) and time.monotonic() < deadline:
                    time.sleep(0.1)
                leaked += len(browser_processes(marker) - before)
        finally:
            site.terminate()
            site.wait()
    ok = outcomes.pop("ok", 0)
    print(f"machine: {machine()}")
    print(f"command: python benchmarks/soak.py --runs {args.runs} --fault-rate {args.fault_rate} "
          f"--seed {args.seed} --browser {args.browser}{' --warm' if args.warm else ''}")
    print(f"runs succeeded: {ok} of {args.runs} ({100 * ok / args.runs:.1f}%)")
    print("runs failed by class: " + (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none"))
    print(f"wrong values reported: {wrong}")
    print(f"processes leaked: {leaked}")
    print(f"wall time: median {statistics.median(times):.2f} s, p95 {percentile(times, 95):.2f} s")
    return 0 if (ok >= 0.99 * args.runs and wrong == 0 and leaked == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
