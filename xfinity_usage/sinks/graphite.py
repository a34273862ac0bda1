"""The Graphite sink: ``-g`` (3.0.4's options), the reading to carbon's plaintext port.

``--graphite-extra`` adds the projection and per-device usage from the report.
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import options

if TYPE_CHECKING:
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

NAME = "graphite"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """3.0.4's Graphite options, and ``--graphite-extra``."""
    parser.add_argument("-g", "--graphite", action="store_true", help="send the reading to Graphite")
    parser.add_argument("-H", "--graphite-host", default="127.0.0.1", help="Graphite host (default: 127.0.0.1)")
    parser.add_argument("-P", "--graphite-port", type=options.port, default=2003,
                        help="Graphite plaintext port (default: 2003)")
    parser.add_argument("-p", "--graphite-prefix", default="xfinity", help="Graphite metric prefix (default: xfinity)")
    parser.add_argument("--graphite-extra", action="store_true",
                        help="also send the projection and per-device usage to Graphite")


def from_args(args: argparse.Namespace, context: Context) -> Optional[GraphiteSink]:
    if not getattr(args, "graphite", False):
        return None
    return GraphiteSink(args.graphite_host, args.graphite_port, args.graphite_prefix, extra=args.graphite_extra)


def extra_metrics(reading: Reading, report: Optional[Mapping[str, Any]]) -> dict:
    """``--graphite-extra``'s metrics from the report: ``projected_<unit>``, ``device.<id>_<unit>``,
    and the overage charges (``overage_dollars``, ``projected_overage_dollars``) when known."""
    from .graphite_core import overage_extra

    if report is None:
        return {}
    unit = (report.get("units") or reading.units).lower()
    extra = {f"device.{d['id']}_{unit}": d["usage"] for d in report.get("devices", [])
             if d.get("usage") is not None}
    if report.get("projected") is not None:
        extra[f"projected_{unit}"] = report["projected"]
    extra.update(overage_extra(report))
    return extra


class GraphiteSink:
    """Each reading over a new TCP connection (:class:`xfinity_usage.sinks.graphite_core.GraphiteClient`)."""

    name = NAME

    def __init__(self, host: str, port: int, prefix: str, *, extra: bool = False):
        self.host, self.port, self.prefix = host, port, prefix
        self.wants_report = extra

    def open(self) -> None:
        pass

    def publish(self, reading: Reading, report: Optional[Mapping[str, Any]]) -> None:
        from .graphite_core import GraphiteClient

        extra = extra_metrics(reading, report) if self.wants_report else None
        GraphiteClient(self.host, self.port, self.prefix).send_reading(reading, extra=extra)
        logger.info("sent the reading to Graphite at %s:%d", self.host, self.port)

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        pass
