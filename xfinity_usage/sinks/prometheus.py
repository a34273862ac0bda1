"""The Prometheus sink: the metrics of the last reading in a textfile, and on ``/metrics`` (:mod:`xfinity_usage.sinks.prometheus_core`).

A run that gets no reading makes ``xfinity_usage_up`` 0 and keeps the last
success time (from the earlier textfile when this process has none).
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import options
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

NAME = "prometheus"
#: Where ``--metrics-port`` listens unless told otherwise (loopback only).
METRICS_ADDRESS = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Prometheus options."""
    group = parser.add_argument_group("Prometheus")
    group.add_argument("--prometheus-textfile", metavar="PATH",
                       help="write the metrics to PATH (atomically) for node_exporter's textfile collector")
    group.add_argument("--metrics-port", type=options.port, metavar="PORT",
                       help="with --interval: serve /metrics on PORT from the last reading")
    group.add_argument("--metrics-address", default=METRICS_ADDRESS, metavar="ADDRESS",
                       help=f"address --metrics-port listens on (default: {METRICS_ADDRESS}; "
                            "0.0.0.0 for every interface)")


def from_args(args: argparse.Namespace, context: Context) -> Optional[PrometheusSink]:
    port = getattr(args, "metrics_port", None)
    textfile = getattr(args, "prometheus_textfile", None)
    if port and not context.long_running:
        raise ConfigError("--metrics-port serves /metrics between runs: it needs --interval "
                          "(a one-shot run can write --prometheus-textfile)")
    if not (port or textfile):
        return None
    return PrometheusSink(textfile, port, args.metrics_address)


class PrometheusSink:
    """One collector of the last reading, written to the textfile and served on ``/metrics`` as asked."""

    name = NAME
    wants_report = True

    def __init__(self, textfile: Optional[str], port: Optional[int], address: str = METRICS_ADDRESS):
        self.textfile = textfile
        self.port = port
        self.address = address
        self.collector: Any = None
        self.server: Any = None

    def open(self) -> None:
        from .prometheus_core import MetricsServer, UsageCollector

        self.collector = UsageCollector(cached=bool(self.port))
        if self.port:
            self.server = MetricsServer(self.collector, self.port, self.address).start()

    def publish(self, reading: Reading, report: Optional[Mapping[str, Any]]) -> None:
        self.collector.update(reading, report)
        self._write()

    def failed(self, error: Exception) -> None:
        from .prometheus_core import previous_last_success

        self.collector.failed(previous_last_success(self.textfile) if self.textfile else None)
        self._write()

    def _write(self) -> None:
        if self.textfile:
            from .prometheus_core import write_textfile

            write_textfile(self.textfile, self.collector)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
