"""Run the simulated site in the foreground: ``python -m xfinity_usage.simulator``.

Prints one line of JSON (the URLs and the demo credentials) to stdout,
then serves until SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import signal
import sys
import threading

from .faults import FAULT_KINDS
from .server import DEMO_PASSWORD, DEMO_USERNAME, SCENARIOS, SimulatedSite


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m xfinity_usage.simulator",
                                     description="Serve the simulated Xfinity site on 127.0.0.1.")
    parser.add_argument("--scenario", choices=SCENARIOS, default="normal", metavar="NAME",
                        help="what the site does (default: normal); one of: " + ", ".join(SCENARIOS))
    parser.add_argument("--port-customer", type=int, default=0, help="customer host port (default: any free one)")
    parser.add_argument("--port-login", type=int, default=0, help="login host port (default: any free one)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="probability of a fault on each request")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help="comma-separated fault kinds to choose from (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random faults")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="delay of the 'slow' fault")
    parser.add_argument("--today", type=datetime.date.fromisoformat, default=None,
                        help="today's date as YYYY-MM-DD (default: the real one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug log to stderr")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.fault_kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(unknown)} (known: {', '.join(FAULT_KINDS)})")
    args.fault_kinds = kinds
    return args


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status."""
    args = parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    site = SimulatedSite(scenario=args.scenario, fault_rate=args.fault_rate, fault_kinds=args.fault_kinds,
                         seed=args.seed, today=args.today, slow_seconds=args.slow_seconds,
                         port_customer=args.port_customer, port_login=args.port_login)
    try:
        site.start()
    except OSError as exc:  # e.g. a busy port: one line, no traceback
        print(f"xfinity_usage.simulator: cannot serve: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({"scenario": args.scenario, "urls": site.urls,
                          "username": DEMO_USERNAME, "password": DEMO_PASSWORD}), flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
