"""Memory of the long-running mode: N runs of --interval on each route, RSS at start and end.

    .venv/bin/python benchmarks/loop_memory.py [--runs 500] [--interval 0.01] [--route app|browser]
                                               [-b chrome-headless] [--mqtt-host 127.0.0.1 --mqtt-port 1883]

The loop runs in this process (``xfinity_usage.cli.loop.run_loop`` with the
CLI's own arguments), feeding the Prometheus textfile and ``/metrics`` (and
MQTT when given), once per route (both unless ``--route`` picks one):

* browser: ``--demo``; the first run signs in with the browser, the others
  reuse the saved session, as a real ``--interval`` service does;
* app: ``--source app`` against the simulated app, whose access tokens live
  1 s here, so every run refreshes its token (the real app's live an hour);
  ``--interval 60`` without the waits (outside ``--demo`` shorter ones are refused).

RSS is read from /proc/self/status after the first run (start) and after
the last (end). Issues 12 and 20 ask for growth under 5 MB over 500 runs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from xfinity_usage.cli.environment import Environment  # noqa: E402
from xfinity_usage.cli.main import build_parser  # noqa: E402
from xfinity_usage.cli.loop import run_loop  # noqa: E402

LIMIT_MB = 5.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler:
    """Stands in for stdout: counts the per-run lines and samples RSS after the first and the last."""

    def __init__(self) -> None:
        self.lines = 0
        self.first_line = ""
        self.last_line = ""
        self.start_mb = 0.0
        self.end_mb = 0.0
        self.started = 0.0

    def write(self, text: str) -> None:
        for line in text.splitlines():
            self.lines += 1
            self.last_line = line
            self.end_mb = rss_mb()
            if self.lines == 1:
                self.first_line, self.start_mb, self.started = line, self.end_mb, time.monotonic()

    def flush(self) -> None:
        pass


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def loop(route: str, opts: argparse.Namespace, tmp: str) -> tuple[int, Sampler]:
    """Run the loop on ``route``; its exit code and what the sampler saw."""
    argv = ["--prometheus-textfile", os.path.join(tmp, f"{route}.prom"),
            "--metrics-port", str(free_port())]
    if opts.mqtt_host:
        argv += ["--mqtt-host", opts.mqtt_host, "--mqtt-port", opts.mqtt_port]
    sampler = Sampler()
    if route == "browser":
        args = build_parser().parse_args(["--demo", "-b", opts.browser, "--interval", opts.interval, *argv])
        return run_loop(args, Environment(stdout=sampler), max_runs=opts.runs), sampler  # type: ignore[arg-type]
    from xfinity_usage.simulator.app import SimulatedApp
    from xfinity_usage.sources.app import sign_in

    home = os.path.join(tmp, "app-home")
    env = {"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config"),
           "XDG_DATA_HOME": os.path.join(home, "data"), "XDG_CACHE_HOME": os.path.join(home, "cache")}
    with SimulatedApp(access_lifetime=1) as app:
        urls = os.path.join(tmp, "app-urls.json")
        with open(urls, "w") as handle:
            json.dump(app.urls, handle)
        sign_in(os.path.join(home, "config", "xfinity-usage", "app-token.json"), app.client_secret,
                app.user_sign_in, urls=app.urls)
        # outside --demo the loop refuses intervals under 60 s: it says 60 and does not wait
        args = build_parser().parse_args(["--source", "app", "--site-urls", urls, "--interval", "60", *argv])
        code = run_loop(args, Environment(env, stdout=sampler), max_runs=opts.runs,  # type: ignore[arg-type]
                        wait=lambda seconds: False)
        refreshes = app.state.grants.count("refresh_token")
    print(f"app route: {refreshes} token refreshes")
    return code, sampler


def main() -> int:
    own = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    own.add_argument("--runs", type=int, default=500)
    own.add_argument("--interval", default="0.01")
    own.add_argument("--route", choices=("app", "browser"), action="append",
                     help="the route to measure (repeatable; default: both)")
    own.add_argument("-b", "--browser", default="chrome-headless")
    own.add_argument("--mqtt-host")
    own.add_argument("--mqtt-port", default="1883")
    opts = own.parse_args()
    print(f"machine: {machine()}")
    ok = True
    for route in opts.route or ("app", "browser"):
        with tempfile.TemporaryDirectory(prefix="xfinity-usage-bench-") as tmp:
            code, sampler = loop(route, opts, tmp)
        growth = sampler.end_mb - sampler.start_mb
        print(f"{route} route: {sampler.lines} runs (exit code {code}); "
              f"{time.monotonic() - sampler.started:.1f} s after the first run")
        print(f"  first: {sampler.first_line}")
        print(f"  last:  {sampler.last_line}")
        print(f"  RSS after the first run: {sampler.start_mb:.1f} MB; after the last: {sampler.end_mb:.1f} MB; "
              f"growth {growth:+.1f} MB (limit {LIMIT_MB:g} MB)")
        ok = ok and code == 0 and sampler.lines == opts.runs and growth < LIMIT_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
