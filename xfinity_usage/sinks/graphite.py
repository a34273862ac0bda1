"""The Graphite sink: ``-g`` (3.0.4's options) pushes each reading to carbon's plaintext port.

A reading becomes ``<prefix>.used_<unit>`` and ``<prefix>.total_<unit>``
(unit lower-cased, e.g. ``xfinity.used_gb``), stamped with the
:class:`~xfinity_usage.reading.Reading`'s ``data_timestamp``. A value that is ``None`` (no cap on an
unlimited plan, or no meter at all) is left out rather than sent as a number.
``--graphite-extra`` adds the projection, per-device usage and the overage charges
(``overage_dollars``, ``projected_overage_dollars``) from the report. graphyte is
imported when the first reading is sent, so ``-h`` stays cheap.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import options
from ..errors import ConfigError, DataError, GraphiteError

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

#: Characters carbon's plaintext protocol and whisper file names accept in one path component.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sanitize_path(name: str) -> str:
    """Return ``name`` with every character outside ``[A-Za-z0-9_-]`` of each
    dot-separated component replaced by ``_``, and empty components dropped."""
    parts = [_UNSAFE.sub("_", part) for part in str(name).split(".")]
    return ".".join(part for part in parts if part)


def _timestamp(value: Any) -> int:
    """``value`` as positive integer epoch seconds, or DataError."""
    from ..reading import finite_number

    seconds = finite_number("data_timestamp", value)
    if seconds <= 0:
        raise DataError(f"data_timestamp is not a positive epoch time: {value!r}")
    return int(seconds)


def reading_metrics(reading: Reading, prefix: str = "xfinity",
                    extra: Mapping[str, float] | None = None) -> list[tuple[str, float, int]]:
    """Return the ``(metric, value, timestamp)`` triples to send for ``reading``.

    ``extra`` maps names relative to ``prefix`` (dots separate path
    components) to values sent with the same timestamp. Every name is
    sanitized with :func:`sanitize_path`. Raises ValueError for a reading
    without units or timestamp, a value that is not a finite non-negative
    number, or two metrics that end up with the same name.
    """
    from ..reading import finite_number

    timestamp = _timestamp(reading.data_timestamp)
    units = reading.units
    if not isinstance(units, str) or not _UNSAFE.sub("", units):
        raise ValueError(f"reading has no usable units: {units!r}")
    unit = _UNSAFE.sub("_", units.lower())
    base = sanitize_path(prefix)

    def full(name: str) -> str:
        relative = sanitize_path(name)
        if not relative:
            raise ValueError(f"metric name {name!r} is empty once sanitized")
        return f"{base}.{relative}" if base else relative

    metrics: list[tuple[str, float, int]] = []
    for key, value in (("used", reading.used), ("total", reading.total)):
        if value is not None:
            metrics.append((full(f"{key}_{unit}"), finite_number(key, value), timestamp))
    for name, value in (extra or {}).items():
        metrics.append((full(name), finite_number(f"extra {name!r}", value), timestamp))

    names = [metric for metric, _, _ in metrics]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"metric names collide: {', '.join(duplicates)}")
    return metrics


def overage_extra(report: Optional[Report]) -> dict[str, float]:
    """The report's overage charges as extra metrics: ``overage_dollars`` (so far) and
    ``projected_overage_dollars``, in US dollars; a charge the report does not have is left out
    (no terms in the answer, an unlimited plan, no projection yet)."""
    if report is None:
        return {}
    extra = {}
    for name, charge in zip(("overage_dollars", "projected_overage_dollars"), report.charges):
        if charge is not None:
            extra[name] = float(charge)
    return extra


class GraphiteClient:
    """Sends readings to one carbon plaintext (line) receiver, synchronously over TCP.

    Raises :class:`ConfigError` for a port outside 1-65535.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2003, prefix: str = "xfinity",
                 timeout: float = 5.0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"invalid Graphite port {port!r}: use 1-65535 (carbon's plaintext port is 2003)")
        self.host = host
        self.port = port
        self.prefix = prefix
        self.timeout = timeout
        # interval=None: no background thread, each send() connects and writes
        # before returning; raise_send_errors: graphyte re-raises socket errors
        # instead of logging and dropping them.
        import graphyte

        self._sender = graphyte.Sender(host, port=port, prefix=None, timeout=timeout, interval=None,
                                       protocol="tcp", raise_send_errors=True)

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 hosts in brackets), as error messages show it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def send(self, metric: str, value: float, timestamp: int) -> None:
        """Send one datapoint over a new TCP connection; socket errors propagate (OSError)."""
        self._sender.send(metric, value, timestamp=timestamp)

    def send_reading(self, reading: Reading, extra: Mapping[str, float] | None = None) -> None:
        """Send the metrics of :func:`reading_metrics` for ``reading``.

        Everything is validated before anything is sent. Raises
        :class:`GraphiteError` if the reading cannot be turned into metrics or
        if a send fails (metrics before the failing one may have arrived).
        """
        try:
            metrics = reading_metrics(reading, self.prefix, extra)
        except ValueError as exc:
            raise GraphiteError(f"not sending to Graphite at {self.address}: {exc}") from None
        if not metrics:
            logger.warning("nothing to send to Graphite at %s: the reading has no used or total value",
                           self.address)
            return
        for metric, value, timestamp in metrics:
            try:
                self.send(metric, value, timestamp)
            except OSError as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise GraphiteError(
                    f"cannot send {metric} to Graphite at {self.address}: {reason}; check that carbon "
                    f"is running and accepts plaintext TCP there, or fix --graphite-host/--graphite-port"
                ) from exc
            logger.debug("sent %s %r %d to %s", metric, value, timestamp, self.address)


# ---------------------------------------------------------------- the sink

NAME = "graphite"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The Graphite options (field names are the options' names)."""

    graphite: bool = False
    graphite_host: str = "127.0.0.1"
    graphite_port: int = 2003
    graphite_prefix: str = "xfinity"
    graphite_extra: bool = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """3.0.4's Graphite options, and ``--graphite-extra``."""
    d = Settings()
    parser.add_argument("-g", "--graphite", action="store_true", help="send the reading to Graphite")
    parser.add_argument("-H", "--graphite-host", default=d.graphite_host,
                        help=f"Graphite host (default: {d.graphite_host})")
    parser.add_argument("-P", "--graphite-port", type=options.port, default=d.graphite_port,
                        help=f"Graphite plaintext port (default: {d.graphite_port})")
    parser.add_argument("-p", "--graphite-prefix", default=d.graphite_prefix,
                        help=f"Graphite metric prefix (default: {d.graphite_prefix})")
    parser.add_argument("--graphite-extra", action="store_true",
                        help="also send the projection and per-device usage to Graphite")


def build(settings: Settings, context: Context) -> Optional[GraphiteSink]:
    """The sink ``settings`` ask for (None without ``-g``)."""
    if not settings.graphite:
        return None
    return GraphiteSink(settings.graphite_host, settings.graphite_port, settings.graphite_prefix,
                        extra=settings.graphite_extra)


def extra_metrics(reading: Reading, report: Optional[Report]) -> dict:
    """``--graphite-extra``'s metrics from the report: ``projected_<unit>``, ``device.<id>_<unit>``,
    and the overage charges (``overage_dollars``, ``projected_overage_dollars``) when known."""
    if report is None:
        return {}
    unit = (report.units or reading.units).lower()
    extra = {f"device.{d.id}_{unit}": d.usage for d in report.devices if d.usage is not None}
    if report.projected is not None:
        extra[f"projected_{unit}"] = report.projected
    extra.update(overage_extra(report))
    return extra


class GraphiteSink:
    """Each reading over a new TCP connection (:class:`xfinity_usage.sinks.graphite.GraphiteClient`)."""

    name = NAME

    def __init__(self, host: str, port: int, prefix: str, *, extra: bool = False):
        self.host, self.port, self.prefix = host, port, prefix
        self.wants_report = extra

    def open(self) -> None:
        pass

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        extra = extra_metrics(reading, report) if self.wants_report else None
        GraphiteClient(self.host, self.port, self.prefix).send_reading(reading, extra=extra)
        logger.info("sent the reading to Graphite at %s:%d", self.host, self.port)

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        pass
