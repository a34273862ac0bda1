"""Publish readings over MQTT, with Home Assistant's MQTT discovery.

Each figure is a Home Assistant ``sensor`` announced by a retained config
message on ``<discovery prefix>/sensor/<node id>/<entity>/config``, with a
``unique_id`` and one shared device block; its value goes, retained, to
``<mqtt prefix>/<entity>``. Every message is sent with QoS 1 and the run
waits for the broker's acknowledgement of each (PUBACK).

A one-shot run sets ``expire_after`` (:data:`ONE_SHOT_EXPIRE_AFTER`) so Home
Assistant marks the figures unavailable when runs stop; the long-running
mode (``--interval``) instead keeps a connection with a last will on
``<mqtt prefix>/status`` (``online``/``offline``).

Figures are in GB as Xfinity counts them: in 1024s (``UNIT_BYTES``); the
overage charges (so far and projected) in US dollars, device class
``monetary``. On an unlimited plan the figures that need a cap (allowance,
remaining, percent, daily budget, overage charges) are not published, and
their retained configs are removed.

paho-mqtt (2.x) is an optional extra: ``pip install 'xfinity-usage[mqtt]'``, imported only when a
reading is published. The sink (:class:`MqttSink`): a single run connects, publishes and
disconnects; the long-running mode keeps one connection.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .. import options
from ..errors import ConfigError, MqttError
from ..version import __version__

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading
    from . import Context

logger = logging.getLogger(__name__)

#: Seconds Home Assistant keeps a one-shot run's figures before it marks them unavailable (36 h:
#: a daily cron job plus slack).
ONE_SHOT_EXPIRE_AFTER = 36 * 3600
#: Seconds to wait for the connection and for each acknowledgement.
DEFAULT_TIMEOUT = 10.0
#: Home Assistant's default availability payloads.
ONLINE, OFFLINE = "online", "offline"
#: The state payload Home Assistant reads as "unknown" (a figure the run does not have).
NONE_PAYLOAD = "None"
#: What the missing extra's message names.
EXTRA_HINT = "pip install 'xfinity-usage[mqtt]'"
#: The unit every data figure is published in (1024-based, as Xfinity counts).
UNIT = "GB"
#: The unit of the overage charges.
CURRENCY = "USD"

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclasses.dataclass(frozen=True)
class Entity:
    """One Home Assistant sensor: its key (object id and state topic leaf) and discovery fields."""

    key: str
    name: str
    device_class: Optional[str] = None
    state_class: Optional[str] = None
    unit: Optional[str] = None
    icon: Optional[str] = None
    needs_cap: bool = False
    precision: int = 1


#: The sensors, in publishing order (the issue's table).
ENTITIES = (
    Entity("used", "Data used", "data_size", "total_increasing", UNIT),  # resets each cycle
    Entity("allowance", "Data allowance", "data_size", None, UNIT, needs_cap=True),
    Entity("remaining", "Data remaining", "data_size", None, UNIT, needs_cap=True),
    Entity("percent_used", "Data used percent", None, None, "%", "mdi:percent", needs_cap=True),
    Entity("projected", "Projected at cycle end", None, None, UNIT, "mdi:chart-line"),  # a prediction
    Entity("daily_budget", "Daily budget left", None, None, UNIT, "mdi:calendar-today", needs_cap=True),
    # US dollars; Home Assistant allows no state class but "total" on a monetary sensor, and these
    # are neither running totals nor measurements: none.
    Entity("overage_charge", "Overage charge", "monetary", None, CURRENCY, needs_cap=True, precision=2),
    Entity("projected_overage_charge", "Projected overage charge", "monetary", None, CURRENCY,
           needs_cap=True, precision=2),
    Entity("cycle_start", "Cycle start", "date"),
    Entity("cycle_end", "Cycle end", "date"),
    Entity("last_update", "Last update", "timestamp"),
)
#: The entity whose config carries the reading's details as JSON attributes.
ATTRIBUTES_ENTITY = "used"


@dataclasses.dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish. ``password`` comes from the environment only."""

    host: str
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    tls: bool = False
    ca_file: Optional[str] = None
    prefix: str = "xfinity"
    discovery_prefix: str = "homeassistant"
    timeout: float = DEFAULT_TIMEOUT

    @property
    def effective_port(self) -> int:
        """The port given, else 8883 with TLS and 1883 without."""
        return self.port or (8883 if self.use_tls else 1883)

    @property
    def use_tls(self) -> bool:
        """TLS is on with ``--mqtt-tls`` or when a CA file is given."""
        return self.tls or bool(self.ca_file)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.effective_port}"

    @property
    def node_id(self) -> str:
        """The discovery node id: the state prefix with every character outside ``[A-Za-z0-9_-]`` as ``_``."""
        return _UNSAFE_ID.sub("_", self.prefix.strip("/")) or "xfinity"

    def state_topic(self, key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{key}"

    @property
    def availability_topic(self) -> str:
        return self.state_topic("status")

    @property
    def attributes_topic(self) -> str:
        return self.state_topic("attributes")

    def config_topic(self, key: str) -> str:
        return f"{self.discovery_prefix.rstrip('/')}/sensor/{self.node_id}/{key}/config"


# ---------------------------------------------------------------- command line


def read_password(env: Mapping[str, str]) -> Optional[str]:
    """MQTT_PASSWORD, else the file named by MQTT_PASSWORD_FILE, else None."""
    return options.secret_from_env(env, "MQTT_PASSWORD") or None


def publisher_settings(settings: Settings, env: Mapping[str, str],
                       secrets: Optional[list] = None) -> MqttSettings:
    """The publisher's settings from the options and the environment (the password).

    The password is added to ``secrets`` (the strings masked in logs).
    """
    if not settings.mqtt_host:
        raise ConfigError("no MQTT broker: give --mqtt-host")
    password = read_password(env)
    if password and secrets is not None:
        secrets.append(password)
    if password and not settings.mqtt_user:
        raise ConfigError("MQTT_PASSWORD (or MQTT_PASSWORD_FILE) is set but --mqtt-user is not")
    for name, value in (("--mqtt-prefix", settings.mqtt_prefix),
                        ("--ha-discovery-prefix", settings.ha_discovery_prefix)):
        if not value.strip("/") or any(c in value for c in "#+\0"):
            raise ConfigError(f"{name} {value!r} is not a usable MQTT topic prefix")
    if settings.mqtt_ca and not _readable(settings.mqtt_ca):
        raise ConfigError(f"cannot read --mqtt-ca {settings.mqtt_ca}")
    return MqttSettings(host=settings.mqtt_host, port=settings.mqtt_port, user=settings.mqtt_user,
                        password=password, tls=settings.mqtt_tls, ca_file=settings.mqtt_ca,
                        prefix=settings.mqtt_prefix, discovery_prefix=settings.ha_discovery_prefix)


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- messages


def device_block(settings: MqttSettings) -> dict:
    """The one device every entity belongs to."""
    return {
        "identifiers": [f"xfinity_usage_{settings.node_id}"],
        "name": "Xfinity internet",
        "manufacturer": "Xfinity (Comcast)",
        "model": "Internet data usage meter",
        "sw_version": __version__,
    }


def discovery_config(entity: Entity, settings: MqttSettings, *, availability: bool,
                     expire_after: Optional[int]) -> dict:
    """The discovery payload of ``entity``."""
    config: dict[str, Any] = {
        "name": entity.name,
        "unique_id": f"xfinity_usage_{settings.node_id}_{entity.key}",
        "state_topic": settings.state_topic(entity.key),
        "device": device_block(settings),
        "origin": {"name": "xfinity-usage", "sw_version": __version__},
        "qos": 1,
    }
    if entity.device_class:
        config["device_class"] = entity.device_class
    if entity.state_class:
        config["state_class"] = entity.state_class
    if entity.unit:
        config["unit_of_measurement"] = entity.unit
        config["suggested_display_precision"] = entity.precision
    if entity.icon:
        config["icon"] = entity.icon
    if entity.key == ATTRIBUTES_ENTITY:
        config["json_attributes_topic"] = settings.attributes_topic
    if availability:
        config["availability_topic"] = settings.availability_topic
        config["payload_available"] = ONLINE
        config["payload_not_available"] = OFFLINE
    if expire_after:
        config["expire_after"] = int(expire_after)
    return config


def state_values(reading: Reading, report: Optional[Report]) -> dict:
    """Each entity's state payload (a string), from the reading and its report.

    Data figures are converted to GB; a figure the run does not have is
    ``"None"`` (Home Assistant's "unknown").
    """
    from ..reading import convert

    units = (report.units if report is not None else None) or reading.units

    def data(value: Any) -> str:
        if value is None:
            return NONE_PAYLOAD
        return _number(convert(float(value), units, UNIT))

    def money(value: Any) -> str:
        return NONE_PAYLOAD if value is None else _number(float(value))

    # without a report: the reading's own figures, and None for those only a report has
    used, total = (report.used, report.total) if report is not None else (reading.used, reading.total)
    remaining = report.remaining if report is not None else None
    projected = report.projected if report is not None else None
    budget = report.daily_budget if report is not None else None
    percent = report.percent if report is not None else None
    charge, projected_charge = report.charges if report is not None else (None, None)
    start = (report.cycle_start if report is not None else None) or reading.cycle_start
    end = (report.cycle_end if report is not None else None) or reading.cycle_end
    return {
        "used": data(used),
        "allowance": data(total),
        "remaining": data(remaining),
        "percent_used": NONE_PAYLOAD if percent is None else _number(percent),
        "projected": data(projected),
        "daily_budget": data(budget),
        "overage_charge": money(charge),
        "projected_overage_charge": money(projected_charge),
        "cycle_start": start.isoformat() if start else NONE_PAYLOAD,
        "cycle_end": end.isoformat() if end else NONE_PAYLOAD,
        "last_update": datetime.datetime.fromtimestamp(reading.data_timestamp, datetime.timezone.utc)
                       .isoformat(timespec="seconds"),
    }


def attributes(reading: Reading, report: Optional[Report]) -> dict:
    """The reading's details for the JSON attributes (the raw payload left out)."""
    details = {key: value for key, value in reading.to_dict().items() if key != "raw"}
    if report is None:
        return details
    overage = report.overage.to_dict() if report.overage is not None else None
    for key, value in (("days_left", report.days_left), ("projection_basis", report.projection_basis),
                       ("average_per_day", report.average_per_day), ("rate_last_24h", report.rate_last_24h),
                       ("overage", overage)):
        if value is not None:
            details[key] = value
    return details


def _number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def messages(reading: Reading, report: Optional[Report], settings: MqttSettings, *,
             availability: bool = False, expire_after: Optional[int] = ONE_SHOT_EXPIRE_AFTER
             ) -> list[tuple[str, str]]:
    """Every ``(topic, payload)`` one run publishes, configs first; all retained, QoS 1.

    An empty payload removes a retained message (and, on a config topic,
    the entity): that is how an unlimited plan's cap figures go away.
    """
    unlimited = reading.total is None
    values = state_values(reading, report)
    configs, states = [], []
    for entity in ENTITIES:
        if entity.needs_cap and unlimited:
            configs.append((settings.config_topic(entity.key), ""))
            states.append((settings.state_topic(entity.key), ""))
            continue
        config = discovery_config(entity, settings, availability=availability, expire_after=expire_after)
        configs.append((settings.config_topic(entity.key), json.dumps(config, sort_keys=True)))
        states.append((settings.state_topic(entity.key), values[entity.key]))
    attrs = (settings.attributes_topic, json.dumps(attributes(reading, report), sort_keys=True))
    return configs + [attrs] + states


# ---------------------------------------------------------------- publishing


def _import_paho() -> Any:
    try:
        import paho.mqtt.client as mqtt_client
    except ImportError:
        raise ConfigError(f"MQTT needs the paho-mqtt package, which is not installed: {EXTRA_HINT}") from None
    if not hasattr(mqtt_client, "CallbackAPIVersion"):
        raise ConfigError(f"MQTT needs paho-mqtt 2.x (an older one is installed): {EXTRA_HINT}")
    return mqtt_client


class MqttPublisher:
    """One connection to the broker; :meth:`publish` sends a reading and waits for every PUBACK.

    ``availability=True`` (the long-running mode) sets a last will of
    ``offline`` on the availability topic, publishes ``online`` on each
    (re)connection and ``offline`` on :meth:`close`; otherwise configs carry
    ``expire_after``. Raises :class:`~xfinity_usage.errors.MqttError` on any failure.
    """

    def __init__(self, settings: MqttSettings, *, availability: bool = False,
                 expire_after: Optional[int] = ONE_SHOT_EXPIRE_AFTER):
        self.settings = settings
        self.availability = availability
        self.expire_after = None if availability else expire_after
        self._client: Any = None
        self._connected = threading.Event()
        self._refused: Optional[str] = None
        self._mqtt: Any = None

    # -- connection

    def connect(self) -> None:
        """Connect and wait for the broker's CONNACK."""
        import ssl  # here, not at the top: --version and -h stay cheap

        mqtt = self._mqtt = _import_paho()
        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"xfinity-usage-{s.node_id}-{os.urandom(4).hex()}",
                             protocol=mqtt.MQTTv311)
        client.connect_timeout = s.timeout
        client.enable_logger(logging.getLogger(__name__ + ".paho"))
        if s.user:
            client.username_pw_set(s.user, s.password)
        if s.use_tls:
            try:  # CERT_REQUIRED and hostname checks: never turned off
                client.tls_set(ca_certs=s.ca_file, cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConfigError(f"cannot use --mqtt-ca {s.ca_file}: {exc}") from None
        if self.availability:
            client.will_set(s.availability_topic, OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        try:
            client.connect(s.host, s.effective_port, keepalive=60)
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise MqttError(f"the TLS certificate of the MQTT broker at {s.address} is not trusted "
                            f"({exc.verify_message}); give its CA with --mqtt-ca") from None
        except (OSError, ssl.SSLError) as exc:
            self._drop()
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise MqttError(f"cannot connect to the MQTT broker at {s.address}: {reason}; check that it "
                            "runs there, or fix --mqtt-host/--mqtt-port") from None
        client.loop_start()
        if not self._connected.wait(s.timeout) or self._refused:
            refused = self._refused
            self._drop()
            if refused:
                raise MqttError(f"the MQTT broker at {s.address} refused the connection: {refused}; "
                                "check --mqtt-user and MQTT_PASSWORD (or MQTT_PASSWORD_FILE)")
            raise MqttError(f"the MQTT broker at {s.address} did not answer within {s.timeout:g} s")
        logger.info("connected to the MQTT broker at %s", s.address)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            client.disconnect()  # no reconnection loop with refused credentials
        elif self.availability:
            client.publish(self.settings.availability_topic, ONLINE, qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.warning("lost the connection to the MQTT broker at %s (%s); reconnecting",
                           self.settings.address, reason_code)

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # paho's network thread can run once more after disconnect() and log at ERROR that the
            # client is not connected: a stop is not an error, so paho says nothing from here on
            client.disable_logger()
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 - already failing
                pass
            client.loop_stop()

    # -- publishing

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        """Publish configs, attributes and states of ``reading``; wait for each PUBACK."""
        if self._client is None:
            self.connect()
        batch = messages(reading, report, self.settings, availability=self.availability,
                         expire_after=self.expire_after)
        self._send(batch)
        logger.info("published %d messages to the MQTT broker at %s", len(batch), self.settings.address)

    def _send(self, batch: list[tuple[str, str]]) -> None:
        s = self.settings
        infos = []
        for topic, payload in batch:
            info = self._client.publish(topic, payload, qos=1, retain=True)
            infos.append((topic, info))
        for topic, info in infos:
            try:
                info.wait_for_publish(timeout=s.timeout)
            except (RuntimeError, ValueError) as exc:
                raise MqttError(f"the MQTT broker at {s.address} did not take {topic}: {exc}") from None
            if not info.is_published():
                raise MqttError(f"the MQTT broker at {s.address} did not acknowledge {topic} within "
                                f"{s.timeout:g} s")

    def close(self) -> None:
        """Set availability offline (long-running mode), disconnect and stop the network thread."""
        if self._client is None:
            return
        try:
            if self.availability and self._connected.is_set() and not self._refused:
                self._send([(self.settings.availability_topic, OFFLINE)])
        except MqttError as exc:
            logger.warning("%s", exc)
        finally:
            self._drop()

    def __enter__(self) -> MqttPublisher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def publish_once(settings: MqttSettings, reading: Reading, report: Optional[Report]) -> None:
    """A one-shot run's publication: connect, publish (``expire_after`` set), disconnect."""
    with MqttPublisher(settings) as publisher:
        publisher.publish(reading, report)


# ---------------------------------------------------------------- the sink

NAME = "mqtt"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The MQTT options (field names are the options' names); the password is not one of them."""

    mqtt_host: Optional[str] = None
    mqtt_port: Optional[int] = None
    mqtt_user: Optional[str] = None
    mqtt_tls: bool = False
    mqtt_ca: Optional[str] = None
    mqtt_prefix: str = "xfinity"
    ha_discovery_prefix: str = "homeassistant"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The MQTT / Home Assistant options (the password comes from MQTT_PASSWORD or MQTT_PASSWORD_FILE)."""
    d = Settings()
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
    group.add_argument("--mqtt-prefix", default=d.mqtt_prefix, metavar="PREFIX",
                       help=f"prefix of the state topics (default: {d.mqtt_prefix})")
    group.add_argument("--ha-discovery-prefix", default=d.ha_discovery_prefix, metavar="PREFIX",
                       help=f"Home Assistant's discovery prefix (default: {d.ha_discovery_prefix})")


def build(settings: Settings, context: Context) -> Optional[MqttSink]:
    """The sink ``settings`` ask for (None without ``--mqtt-host``); the password from ``context.env``."""
    if not settings.mqtt_host:
        return None
    return MqttSink(publisher_settings(settings, context.env, context.secrets),
                    long_running=context.long_running)


class MqttSink:
    """One :class:`~xfinity_usage.sinks.mqtt.MqttPublisher`, connected on first use and reconnected after a failure."""

    name = NAME
    wants_report = True

    def __init__(self, settings: MqttSettings, *, long_running: bool = False):
        self.settings = settings
        self.long_running = long_running
        self.publisher: Optional[MqttPublisher] = None

    def open(self) -> None:
        self.publisher = MqttPublisher(self.settings, availability=self.long_running)
        if self.long_running:  # online at once, and offline by the last will if the process dies
            self.publisher.connect()

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        assert self.publisher is not None
        self.publisher.publish(reading, report)  # connects first when not connected
        logger.info("published the reading to the MQTT broker at %s", self.settings.address)

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
