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

if TYPE_CHECKING:
    from .cli import Environment
    from .reading import Reading

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the MQTT, Prometheus and ``--interval`` options to the CLI's parser."""
    from . import loop, mqtt, prometheus

    mqtt.add_arguments(parser)
    prometheus.add_arguments(parser)
    loop.add_arguments(parser)


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
