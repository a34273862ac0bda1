"""The MQTT sink: each reading to a broker, with Home Assistant discovery (:mod:`xfinity_usage.sinks.mqtt_core`).

A single run connects, publishes with ``expire_after`` and disconnects; the
long-running mode keeps one connection with a last will on the availability topic.
"""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import options

if TYPE_CHECKING:
    from .mqtt_core import MqttPublisher, MqttSettings
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

NAME = "mqtt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
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


def from_args(args: argparse.Namespace, context: Context) -> Optional[MqttSink]:
    if not getattr(args, "mqtt_host", None):
        return None
    from .mqtt_core import settings_from_args

    settings = settings_from_args(args, context.env, context.secrets)
    assert settings is not None
    return MqttSink(settings, long_running=context.long_running)


class MqttSink:
    """One :class:`~xfinity_usage.sinks.mqtt_core.MqttPublisher`, connected on first use and reconnected after a failure."""

    name = NAME
    wants_report = True

    def __init__(self, settings: MqttSettings, *, long_running: bool = False):
        self.settings = settings
        self.long_running = long_running
        self.publisher: Optional[MqttPublisher] = None

    def open(self) -> None:
        from .mqtt_core import MqttPublisher

        self.publisher = MqttPublisher(self.settings, availability=self.long_running)
        if self.long_running:  # online at once, and offline by the last will if the process dies
            self.publisher.connect()

    def publish(self, reading: Reading, report: Optional[Mapping[str, Any]]) -> None:
        assert self.publisher is not None
        self.publisher.publish(reading, report)  # connects first when not connected
        logger.info("published the reading to the MQTT broker at %s", self.settings.address)

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
