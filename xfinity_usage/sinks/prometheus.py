"""Export readings to Prometheus: a node_exporter textfile, or ``/metrics`` in the long-running mode.

Metric names follow Prometheus' naming practice: the ``xfinity_usage_``
prefix, base units (bytes, seconds) and no date labels. Xfinity counts in
1024s (its "1.2 TB" plan is 1229 GB), so a GB is 2**30 bytes
(:data:`xfinity_usage.reading.UNIT_BYTES`).

- ``xfinity_usage_used_bytes``: data used this cycle;
- ``xfinity_usage_allowance_bytes``: the cap (absent on an unlimited plan);
- ``xfinity_usage_projected_bytes``: projected use at the end of the cycle (when known);
- ``xfinity_usage_overage_dollars``: the overage charge so far this cycle, in US dollars (0 under
  the cap or with a courtesy credit left; absent when the answer gives no terms, or no cap);
- ``xfinity_usage_projected_overage_dollars``: the overage charge projected at the end of the cycle;
- ``xfinity_usage_cycle_start_timestamp_seconds``: local midnight starting the cycle;
- ``xfinity_usage_cycle_end_timestamp_seconds``: local midnight after the cycle's last day;
- ``xfinity_usage_device_used_bytes{device}``: data used this cycle by one device;
- ``xfinity_usage_plan_info{policy}``: always 1, the plan's policy as a label;
- ``xfinity_usage_last_success_timestamp_seconds``: when the usage was last read;
- ``xfinity_usage_up``: 1 if the last attempt read the usage, else 0.

A run that gets no reading makes ``xfinity_usage_up`` 0 and keeps the last
success time (from the earlier textfile when this process has none).

prometheus-client is an optional extra: ``pip install 'xfinity-usage[prometheus]'``, imported only
when the sink opens.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator, Optional

from .. import options
from ..errors import ConfigError, PrometheusError

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

PREFIX = "xfinity_usage"
EXTRA_HINT = "pip install 'xfinity-usage[prometheus]'"
#: Added to every HELP text when ``/metrics`` serves the last reading between runs.
CACHED_NOTE = " Cached: the last reading's value, refreshed each run."
#: Where ``--metrics-port`` listens unless told otherwise (loopback only).
DEFAULT_METRICS_ADDRESS = "127.0.0.1"


def _import_client() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigError("Prometheus export needs the prometheus-client package, which is not installed: "
                          f"{EXTRA_HINT}") from None
    return prometheus_client


def _bytes(value: Optional[float], units: str) -> Optional[float]:
    from ..reading import UNIT_BYTES

    if value is None:
        return None
    return float(value) * UNIT_BYTES[units]


class UsageCollector:
    """A prometheus_client collector of the last reading (thread-safe: ``/metrics`` reads it while a run updates it).

    ``cached=True`` adds :data:`CACHED_NOTE` to every HELP text.
    """

    def __init__(self, cached: bool = False, tz: Any = None):
        self.cached = cached
        self.tz = tz
        self._lock = threading.Lock()
        self._reading: Optional[Reading] = None
        self._report: Optional[Report] = None
        self._last_success: Optional[float] = None
        self._up = 0

    def update(self, reading: Reading, report: Optional[Report], when: Optional[float] = None) -> None:
        """A run read ``reading`` at ``when`` (default now)."""
        with self._lock:
            self._reading, self._report = reading, report
            self._last_success = time.time() if when is None else when
            self._up = 1

    def failed(self, last_success: Optional[float] = None) -> None:
        """A run failed: ``up`` goes to 0; the figures stay (served as cached) unless none were read."""
        with self._lock:
            self._up = 0
            if last_success is not None and self._last_success is None:
                self._last_success = last_success

    def describe(self) -> list:
        return []  # metrics come and go (unlimited plan, devices): describe nothing up front

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from ..history.projection import cycle_bounds

        with self._lock:
            reading, report, last_success, up = self._reading, self._report, self._last_success, self._up
        note = CACHED_NOTE if self.cached else ""

        def gauge(name: str, doc: str, value: Optional[float]) -> Iterator[Any]:
            if value is not None:
                yield GaugeMetricFamily(f"{PREFIX}_{name}", doc + note, value=value)

        if reading is not None:
            units = (report.units if report is not None else None) or reading.units
            used = report.used if report is not None else reading.used
            yield from gauge("used_bytes", "Data used this billing cycle, in bytes (1 GB = 2^30 bytes).",
                             _bytes(used, units))
            yield from gauge("allowance_bytes", "The plan's monthly data allowance, in bytes.",
                             _bytes(reading.total, reading.units))
            yield from gauge("projected_bytes", "Projected data use at the end of the billing cycle, in bytes.",
                             _bytes(report.projected if report is not None else None, units))
            charge, projected_charge = report.charges if report is not None else (None, None)
            yield from gauge("overage_dollars", "Overage charge so far this billing cycle, in US dollars "
                             "(0 under the cap or with a courtesy credit left).", charge)
            yield from gauge("projected_overage_dollars", "Overage charge projected at the end of the billing "
                             "cycle, in US dollars.", projected_charge)
            start = reading.cycle_start or (report.cycle_start if report is not None else None)
            end = reading.cycle_end or (report.cycle_end if report is not None else None)
            if start is not None and end is not None:
                first, after = cycle_bounds(start, end, self.tz)
                yield from gauge("cycle_start_timestamp_seconds", "Start of the billing cycle (local midnight).",
                                 first)
                yield from gauge("cycle_end_timestamp_seconds",
                                 "End of the billing cycle (local midnight after its last day).", after)
            devices = GaugeMetricFamily(f"{PREFIX}_device_used_bytes",
                                        "Data used this billing cycle by one device, in bytes." + note,
                                        labels=["device"])
            for ident, usage in sorted(reading.devices.items()):
                device_bytes = _bytes(usage, reading.units)
                if device_bytes is not None:
                    devices.add_metric([str(ident)], device_bytes)
            if reading.devices:
                yield devices
            plan = GaugeMetricFamily(f"{PREFIX}_plan_info", "The plan's usage policy (always 1)." + note,
                                     labels=["policy"])
            plan.add_metric([str(reading.policy or "unknown")], 1)
            yield plan
        yield from gauge("last_success_timestamp_seconds", "When the usage was last read successfully.",
                         last_success)
        yield GaugeMetricFamily(f"{PREFIX}_up", "1 if the last attempt read the usage, 0 if it failed." + note,
                                value=up)


def _registry(collector: UsageCollector) -> Any:
    client = _import_client()
    registry = client.CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render(collector: UsageCollector) -> str:
    """The collector's metrics in Prometheus' text format."""
    client = _import_client()
    return client.generate_latest(_registry(collector)).decode()


def write_textfile(path: str, collector: UsageCollector) -> None:
    """Write the metrics to ``path`` atomically (``prometheus_client.write_to_textfile``)."""
    client = _import_client()
    try:
        client.write_to_textfile(path, _registry(collector))
    except OSError as exc:
        raise PrometheusError(f"cannot write --prometheus-textfile {path}: {exc.strerror or exc}") from None
    logger.info("wrote the Prometheus metrics to %s", path)


def previous_last_success(path: str) -> Optional[float]:
    """``xfinity_usage_last_success_timestamp_seconds`` of an earlier textfile, if there is one."""
    _import_client()
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for family in text_string_to_metric_families(text):
            if family.name == f"{PREFIX}_last_success_timestamp_seconds" and family.samples:
                return float(family.samples[0].value)
    except (OSError, ValueError):
        return None
    return None


def write_reading(path: str, reading: Reading, report: Optional[Report]) -> None:
    """A one-shot run's textfile: the reading's metrics, ``up`` 1."""
    collector = UsageCollector()
    collector.update(reading, report)
    write_textfile(path, collector)


def write_failure(path: str) -> None:
    """A one-shot run that failed: ``up`` 0, keeping the earlier file's last success time."""
    collector = UsageCollector()
    collector.failed(previous_last_success(path))
    write_textfile(path, collector)


class MetricsServer:
    """``/metrics`` over HTTP from a :class:`UsageCollector` (the long-running mode)."""

    def __init__(self, collector: UsageCollector, port: int, address: str = DEFAULT_METRICS_ADDRESS):
        self.collector = collector
        self.port = port
        self.address = address
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> MetricsServer:
        client = _import_client()
        try:
            self._server, self._thread = client.start_http_server(self.port, self.address,
                                                                  registry=_registry(self.collector))
        except OSError as exc:
            raise PrometheusError(f"cannot serve /metrics on {self.address}:{self.port}: "
                                  f"{exc.strerror or exc}") from None
        self.port = self._server.server_address[1]
        logger.info("serving /metrics on %s:%d", self.address, self.port)
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)


# ---------------------------------------------------------------- the sink

NAME = "prometheus"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The Prometheus options (field names are the options' names)."""

    prometheus_textfile: Optional[str] = None
    metrics_port: Optional[int] = None
    metrics_address: str = DEFAULT_METRICS_ADDRESS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The Prometheus options."""
    group = parser.add_argument_group("Prometheus")
    group.add_argument("--prometheus-textfile", metavar="PATH",
                       help="write the metrics to PATH (atomically) for node_exporter's textfile collector")
    group.add_argument("--metrics-port", type=options.port, metavar="PORT",
                       help="with --interval: serve /metrics on PORT from the last reading")
    group.add_argument("--metrics-address", default=DEFAULT_METRICS_ADDRESS, metavar="ADDRESS",
                       help=f"address --metrics-port listens on (default: {DEFAULT_METRICS_ADDRESS}; "
                            "0.0.0.0 for every interface)")


def build(settings: Settings, context: Context) -> Optional[PrometheusSink]:
    """The sink ``settings`` ask for (None without a textfile or a port); ``--metrics-port`` needs
    the long-running mode."""
    port, textfile = settings.metrics_port, settings.prometheus_textfile
    if port and not context.long_running:
        raise ConfigError("--metrics-port serves /metrics between runs: it needs --interval "
                          "(a one-shot run can write --prometheus-textfile)")
    if not (port or textfile):
        return None
    return PrometheusSink(textfile, port, settings.metrics_address)


class PrometheusSink:
    """One collector of the last reading, written to the textfile and served on ``/metrics`` as asked."""

    name = NAME
    wants_report = True

    def __init__(self, textfile: Optional[str], port: Optional[int], address: str = DEFAULT_METRICS_ADDRESS):
        self.textfile = textfile
        self.port = port
        self.address = address
        self.collector: Any = None
        self.server: Any = None

    def open(self) -> None:
        self.collector = UsageCollector(cached=bool(self.port))
        if self.port:
            self.server = MetricsServer(self.collector, self.port, self.address).start()

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        self.collector.update(reading, report)
        self._write()

    def failed(self, error: Exception) -> None:
        self.collector.failed(previous_last_success(self.textfile) if self.textfile else None)
        self._write()

    def _write(self) -> None:
        if self.textfile:
            write_textfile(self.textfile, self.collector)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
