"""Memory of the long-running mode: N runs of --interval against the simulated site, RSS at start and end.

    .venv/bin/python benchmarks/loop_memory.py [--runs 500] [--interval 0.01] [-b chrome-headless]
                                               [--mqtt-host 127.0.0.1 --mqtt-port 1883]

The loop runs in this process (``xfinity_usage.cli.loop.run_loop`` with the
CLI's own arguments, ``--demo``), feeding the Prometheus textfile and
``/metrics`` (and MQTT when given). The first run signs in with the browser;
the others reuse the saved session, as a real ``--interval`` service does.
RSS is read from /proc/self/status after the first run (start) and after
the last (end). Issue 12 asks for growth under 5 MB over 500 runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from xfinity_usage.cli.main import Environment, build_parser  # noqa: E402
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


def main() -> int:
    own = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    own.add_argument("--runs", type=int, default=500)
    own.add_argument("--interval", default="0.01")
    own.add_argument("-b", "--browser", default="chrome-headless")
    own.add_argument("--mqtt-host")
    own.add_argument("--mqtt-port", default="1883")
    opts = own.parse_args()
    with tempfile.TemporaryDirectory(prefix="xfinity-usage-bench-") as tmp:
        argv = ["--demo", "-b", opts.browser, "--interval", opts.interval,
                "--prometheus-textfile", os.path.join(tmp, "x.prom"), "--metrics-port", str(free_port())]
        if opts.mqtt_host:
            argv += ["--mqtt-host", opts.mqtt_host, "--mqtt-port", opts.mqtt_port]
        args = build_parser().parse_args(argv)
        sampler = Sampler()
        env = Environment(stdout=sampler)  # type: ignore[arg-type]
        code = run_loop(args, env, max_runs=opts.runs)
    growth = sampler.end_mb - sampler.start_mb
    print(f"machine: {machine()}")
    print(f"runs: {sampler.lines} at --interval {opts.interval} (exit code {code}); "
          f"{time.monotonic() - sampler.started:.1f} s after the first run")
    print(f"first: {sampler.first_line}")
    print(f"last:  {sampler.last_line}")
    print(f"RSS after the first run: {sampler.start_mb:.1f} MB; after the last: {sampler.end_mb:.1f} MB; "
          f"growth {growth:+.1f} MB (limit {LIMIT_MB:g} MB)")
    return 0 if code == 0 and growth < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
