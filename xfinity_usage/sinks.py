"""Where a reading goes besides stdout and Graphite: MQTT (Home Assistant) and Prometheus.

The CLI calls :func:`add_arguments` to get the options of this module, of
:mod:`xfinity_usage.mqtt`, :mod:`xfinity_usage.prometheus` and of the
long-running mode (:mod:`xfinity_usage.loop`), and :func:`publish_once` after
a one-shot run. Heavy or optional libraries load only when a sink is used.
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, Mapping, Optional

from . import options

if TYPE_CHECKING:
    from .cli import Environment
    from .reading import Reading

logger = logging.getLogger(__name__)


#: Where ``--metrics-port`` listens unless told otherwise (loopback only).
METRICS_ADDRESS = "127.0.0.1"
#: The shortest ``--interval`` that is polite to the real site (shorter ones are for the demo).
MIN_INTERVAL = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the MQTT, Prometheus and ``--interval`` options to the CLI's parser.

    They are defined here, not in the modules that act on them, so that
    ``-h`` and ``--version`` import none of those modules.
    """
    _mqtt_arguments(parser)
    _prometheus_arguments(parser)
    _loop_arguments(parser)


def _mqtt_arguments(parser: argparse.ArgumentParser) -> None:
    """The MQTT / Home Assistant options (the password comes from MQTT_PASSWORD or MQTT_PASSWORD_FILE)."""
    group = parser.add_argument_group(
        "MQTT and Home Assistant",
        "publish each reading to an MQTT broker with Home Assistant discovery;\n"
        "the password comes from MQTT_PASSWORD or MQTT_PASSWORD_FILE, never from a flag")
    group.add_argument("--mqtt-host", metavar="HOST", help="publish to the MQTT broker on HOST")
    group.add_argument("--mqtt-port", type=options.port, metavar="PORT",
                       help="the broker's port (default: 1883; 8883 with TLS)")
    group.add_argument("--mqtt-user", metavar="USER", help="the broker's username")
    group.add_argument("--mqtt-tls", action="store_true",
                       help="connect with TLS; the broker's certificate is always verified")
    group.add_argument("--mqtt-ca", metavar="FILE",
                       help="CA certificate(s) to verify the broker with (implies --mqtt-tls; "
                            "default: the system's CAs)")
    group.add_argument("--mqtt-prefix", default="xfinity", metavar="PREFIX",
                       help="prefix of the state topics (default: xfinity)")
    group.add_argument("--ha-discovery-prefix", default="homeassistant", metavar="PREFIX",
                       help="Home Assistant's discovery prefix (default: homeassistant)")


def _prometheus_arguments(parser: argparse.ArgumentParser) -> None:
    """The Prometheus options."""
    group = parser.add_argument_group("Prometheus")
    group.add_argument("--prometheus-textfile", metavar="PATH",
                       help="write the metrics to PATH (atomically) for node_exporter's textfile collector")
    group.add_argument("--metrics-port", type=options.port, metavar="PORT",
                       help="with --interval: serve /metrics on PORT from the last reading")
    group.add_argument("--metrics-address", default=METRICS_ADDRESS, metavar="ADDRESS",
                       help=f"address --metrics-port listens on (default: {METRICS_ADDRESS}; "
                            "0.0.0.0 for every interface)")


def _loop_arguments(parser: argparse.ArgumentParser) -> None:
    """The long-running mode's option."""
    group = parser.add_argument_group("long-running mode")
    group.add_argument("--interval", type=options.positive, metavar="SECONDS",
                       help="keep running: read every SECONDS (±10%% jitter) and feed every sink; one line "
                            f"per run; SIGTERM/SIGINT stop it (at least {MIN_INTERVAL:g} s against the real site)")


def wanted(args: argparse.Namespace) -> bool:
    """True when a one-shot run has a sink of this module to feed."""
    return bool(getattr(args, "mqtt_host", None) or getattr(args, "prometheus_textfile", None))


def report_for(args: argparse.Namespace, env: Environment, reading: Reading,
               report: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    """``report`` if the run built one, else one built from the history (read only) and ``reading``."""
    from .history import HistoryError, HistoryStore, default_history_path
    from .report import build_report

    if report is not None:
        return report
    if getattr(args, "no_history", False) or (args.demo and not args.history_db):
        return build_report([], reading)
    try:
        with HistoryStore(args.history_db or default_history_path(env.env)) as store:
            return build_report(store, reading)
    except HistoryError as exc:
        logger.warning("history not read for the projection: %s", exc)
        return build_report([], reading)


def start(args: argparse.Namespace, env: Environment) -> Optional[int]:
    """Called first by the CLI's run: check the sink options before any sign-in; with
    ``--interval``, run the long-running mode and return its exit code (else None)."""
    from .errors import ConfigError

    if getattr(args, "interval", None):
        from .loop import run_loop

        return run_loop(args, env)
    if getattr(args, "metrics_port", None):
        raise ConfigError("--metrics-port serves /metrics between runs: it needs --interval "
                          "(a one-shot run can write --prometheus-textfile)")
    if getattr(args, "mqtt_host", None):
        from .mqtt import settings_from_args

        settings_from_args(args, env.env, env.secrets)
    return None


def failed_once(args: argparse.Namespace) -> None:
    """A one-shot run got no reading: the Prometheus textfile says ``up`` 0 (its earlier
    last-success time kept). A failure to write it is only a warning: the run's own error wins."""
    if not getattr(args, "prometheus_textfile", None):
        return
    from .errors import XfinityUsageError
    from .prometheus import write_failure

    try:
        write_failure(args.prometheus_textfile)
    except (XfinityUsageError, OSError) as exc:
        logger.warning("could not mark the failure in %s: %s", args.prometheus_textfile, exc)


def publish_once(args: argparse.Namespace, env: Environment, reading: Reading,
                 report: Optional[Mapping[str, Any]]) -> None:
    """Feed a one-shot run's reading to MQTT and the Prometheus textfile, as asked.

    Raises :class:`~xfinity_usage.errors.MqttError` or
    :class:`~xfinity_usage.errors.PrometheusError` (after trying both).
    """
    from .errors import XfinityUsageError

    if not wanted(args):
        return
    full = report_for(args, env, reading, report)
    failure: Optional[XfinityUsageError] = None
    if args.prometheus_textfile:
        from .prometheus import write_reading

        try:
            write_reading(args.prometheus_textfile, reading, full)
        except XfinityUsageError as exc:
            failure = exc
    if args.mqtt_host:
        from .mqtt import publish_once as mqtt_publish, settings_from_args

        settings = settings_from_args(args, env.env, env.secrets)
        assert settings is not None
        mqtt_publish(settings, reading, full)
        logger.info("published the reading to the MQTT broker at %s", settings.address)
    if failure is not None:
        raise failure
