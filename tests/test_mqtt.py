"""MQTT with Home Assistant discovery, against real mosquitto brokers (anonymous, password, TLS)."""
from __future__ import annotations

import datetime
import json
import re
import sys
import time

import pytest

from xfinity_usage.sinks import mqtt
from xfinity_usage.errors import ConfigError, ExitCode, MqttError
from xfinity_usage.reading import Reading
from xfinity_usage.history.report import build_report
from xfinity_usage.version import __version__

from .fixtures_clock import MID_CYCLE

#: The issue's entity table: key -> (device_class, state_class, unit).
TABLE = {
    "used": ("data_size", "total_increasing", "GB"),
    "allowance": ("data_size", None, "GB"),
    "remaining": ("data_size", None, "GB"),
    "percent_used": (None, None, "%"),
    "projected": (None, None, "GB"),
    "daily_budget": (None, None, "GB"),
    "overage_charge": ("monetary", None, "USD"),
    "projected_overage_charge": ("monetary", None, "USD"),
    "cycle_start": ("date", None, None),
    "cycle_end": ("date", None, None),
    "last_update": ("timestamp", None, None),
}
CAP_ONLY = {"allowance", "remaining", "percent_used", "daily_budget", "overage_charge", "projected_overage_charge"}
#: Home Assistant's units for the data_size device class.
DATA_SIZE_UNITS = {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB",
                   "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
ID = re.compile(r"^[A-Za-z0-9_-]+$")


def reading(total=1229.0, used=500.0, units="GB"):
    """A reading taken in the middle of its cycle, on a fixed day (not today)."""
    return Reading(used=used, total=total, units=units, data_timestamp=int(MID_CYCLE.timestamp()),
                   cycle_start=datetime.date(2026, 11, 1), cycle_end=datetime.date(2026, 11, 30),
                   devices={"44:1C:A8:05:00:5E": 300.0}, policy="limited" if total else "unlimited",
                   source="test", raw={"big": "payload"})


def check_discovery(retained: dict, prefix="homeassistant", state_prefix="xfinity", *, unlimited=False,
                    one_shot=True):
    """Every retained config and state against Home Assistant's discovery rules and the issue's table."""
    configs = {t: p for t, p in retained.items() if t.startswith(prefix + "/")}
    expected = {k for k in TABLE if not (unlimited and k in CAP_ONLY)}
    seen, unique_ids, devices = set(), set(), []
    for topic, payload in configs.items():
        parts = topic.split("/")
        assert len(parts) == 5 and parts[1] == "sensor" and parts[4] == "config", topic
        assert ID.match(parts[2]) and ID.match(parts[3]), topic  # node_id and object_id characters
        config = json.loads(payload)
        key = parts[3]
        seen.add(key)
        assert config["unique_id"] and config["unique_id"] not in unique_ids
        unique_ids.add(config["unique_id"])
        device_class, state_class, unit = TABLE[key]
        assert config.get("device_class") == device_class, key
        assert config.get("state_class") == state_class, key
        assert config.get("unit_of_measurement") == unit, key
        if device_class == "data_size":
            assert unit in DATA_SIZE_UNITS
        if device_class == "monetary":  # Home Assistant: an ISO 4217 currency, state class "total" or none
            assert config.get("state_class", "total") == "total" and config["suggested_display_precision"] == 2
        if device_class in ("date", "timestamp"):  # Home Assistant refuses a unit or state class on these
            assert "unit_of_measurement" not in config and "state_class" not in config
        assert config.get("state_class", "measurement") in STATE_CLASSES
        assert config["state_topic"].startswith(state_prefix + "/")
        assert config["qos"] == 1
        device = config["device"]
        assert device["identifiers"] and device["manufacturer"] and device["model"] and device["name"]
        assert device["sw_version"] == __version__
        devices.append(json.dumps(device, sort_keys=True))
        if one_shot:
            assert isinstance(config["expire_after"], int) and config["expire_after"] > 0
            assert "availability_topic" not in config
        else:
            assert "expire_after" not in config
            assert config["availability_topic"] == f"{state_prefix}/status"
        state = retained[config["state_topic"]]
        if device_class == "date":
            datetime.date.fromisoformat(state)
        elif device_class == "timestamp":
            assert datetime.datetime.fromisoformat(state).tzinfo is not None
        elif state != "None":
            float(state)
        if "json_attributes_topic" in config:
            attributes = json.loads(retained[config["json_attributes_topic"]])
            assert "raw" not in attributes and attributes["source"]
    assert seen == expected
    assert len(set(devices)) == 1  # one device block for all
    return {key: retained[f"{state_prefix}/{key}"] for key in expected}


# ---------------------------------------------------------------- without a broker


def test_messages_follow_the_table_and_convert_in_1024s():
    settings = mqtt.MqttSettings("127.0.0.1")
    r = reading(total=1.2, used=0.5, units="TB")
    sent = dict(mqtt.messages(r, build_report([], r), settings))
    assert sent["xfinity/allowance"] == "1228.8"  # 1.2 TB is 1228.8 GB: Xfinity counts in 1024s
    assert sent["xfinity/used"] == "512"
    states = check_discovery(sent)
    assert states["percent_used"] == "41.67"


def test_unlimited_plan_publishes_no_allowance_and_removes_cap_entities():
    settings = mqtt.MqttSettings("127.0.0.1")
    r = reading(total=None)
    sent = dict(mqtt.messages(r, build_report([], r), settings))
    for key in CAP_ONLY:
        assert sent[f"homeassistant/sensor/xfinity/{key}/config"] == ""  # empty retained: entity removed
        assert sent[f"xfinity/{key}"] == ""
    check_discovery({t: p for t, p in sent.items() if p}, unlimited=True)


def test_overage_charges_of_an_over_cap_account():
    """The simulated account at 1100 of 1229 GB half-way through the cycle: $0 so far, $100 projected
    (the answer's maximum); with a courtesy credit left, $0."""
    from xfinity_usage.simulator import data
    from xfinity_usage.sources.usage import reading_from_json

    now = datetime.datetime(2026, 11, 16, tzinfo=datetime.timezone.utc).timestamp()
    settings = mqtt.MqttSettings("127.0.0.1")
    for scenario, projected in (("over_cap", "100"), ("over_cap_courtesy", "0")):
        r = reading_from_json(data.usage_json(datetime.date(2026, 11, 16), scenario), now=now).with_source("browser")
        sent = dict(mqtt.messages(r, build_report([], r, now=now, tz=datetime.timezone.utc), settings))
        states = check_discovery(sent)
        assert (states["overage_charge"], states["projected_overage_charge"]) == ("0", projected), scenario
        config = json.loads(sent["homeassistant/sensor/xfinity/projected_overage_charge/config"])
        assert config["name"] == "Projected overage charge" and config["unit_of_measurement"] == "USD"
        assert json.loads(sent["xfinity/attributes"])["overage"]["projected_over"] == 971.0
    r = reading()  # no terms in its answer: Home Assistant shows unknown, nothing is made up
    states = check_discovery(dict(mqtt.messages(r, build_report([], r), settings)))
    assert states["overage_charge"] == states["projected_overage_charge"] == "None"


def test_prefixes_and_long_running_configs():
    settings = mqtt.MqttSettings("127.0.0.1", prefix="home/isp", discovery_prefix="ha")
    r = reading()
    sent = dict(mqtt.messages(r, None, settings, availability=True, expire_after=None))
    assert "ha/sensor/home_isp/used/config" in sent
    states = check_discovery(sent, prefix="ha", state_prefix="home/isp", one_shot=False)
    assert states["projected"] == "None"  # no report: Home Assistant shows unknown


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    with pytest.raises(ConfigError, match=re.escape("pip install 'xfinity-usage[mqtt]'")):
        mqtt.MqttPublisher(mqtt.MqttSettings("127.0.0.1")).connect()


def test_password_comes_from_the_environment_or_its_file(tmp_path):
    from xfinity_usage.cli.main import build_parser
    from xfinity_usage.cli.runs import settings_of

    def options(*argv: str) -> mqtt.Settings:
        return settings_of(mqtt.Settings, build_parser().parse_args(list(argv)))

    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    secrets: list = []
    settings = mqtt.publisher_settings(options("--mqtt-host", "h", "--mqtt-user", "u"),
                                       {"MQTT_PASSWORD_FILE": str(secret_file)}, secrets)
    assert settings.password == "from-file" and secrets == ["from-file"]
    assert "from-file" not in repr(settings)
    with pytest.raises(ConfigError, match="--mqtt-user"):
        mqtt.publisher_settings(options("--mqtt-host", "h"), {"MQTT_PASSWORD": "x"})
    with pytest.raises(ConfigError, match="--mqtt-ca"):
        mqtt.publisher_settings(options("--mqtt-host", "h", "--mqtt-ca", str(tmp_path / "missing.pem")), {})
    assert mqtt.publisher_settings(options("--mqtt-host", "h", "--mqtt-tls"), {}).effective_port == 8883
    assert options().mqtt_host is None and mqtt.Settings() == options()


# ---------------------------------------------------------------- real brokers


def test_anonymous_broker_gets_every_retained_config_and_state(make_broker):
    broker = make_broker()
    r = reading()
    report = build_report([], r)
    mqtt.publish_once(mqtt.MqttSettings(broker.host, broker.port), r, report)
    retained = broker.retained()
    states = check_discovery(retained)
    assert states["used"] == "500" and states["allowance"] == "1229" and states["remaining"] == "729"
    assert states["cycle_start"] == r.cycle_start.isoformat()
    # a later unlimited reading removes the cap entities from the broker
    u = reading(total=None)
    mqtt.publish_once(mqtt.MqttSettings(broker.host, broker.port), u, build_report([], u))
    check_discovery(broker.retained(), unlimited=True)


def test_username_and_password(make_broker):
    broker = make_broker(user="ha", password="s3cret pass")
    settings = mqtt.MqttSettings(broker.host, broker.port, user="ha", password="s3cret pass")
    mqtt.publish_once(settings, reading(), None)
    assert check_discovery(broker.retained())["used"] == "500"


def test_wrong_password_is_a_clear_mqtt_error(make_broker):
    broker = make_broker(user="ha", password="right")
    settings = mqtt.MqttSettings(broker.host, broker.port, user="ha", password="wrong", timeout=5)
    with pytest.raises(MqttError, match="refused the connection: Not authorized") as caught:
        mqtt.publish_once(settings, reading(), None)
    assert caught.value.exit_code == ExitCode.MQTT == 11
    assert "wrong" not in str(caught.value)


def test_tls_with_a_ca_file(make_broker, mqtt_ca):
    broker = make_broker(ca=mqtt_ca)
    settings = mqtt.MqttSettings(broker.host, broker.port, ca_file=str(mqtt_ca.ca_cert))
    assert settings.use_tls
    mqtt.publish_once(settings, reading(), None)
    assert check_discovery(broker.retained())["used"] == "500"


def test_tls_without_the_ca_is_refused_not_skipped(make_broker, mqtt_ca):
    broker = make_broker(ca=mqtt_ca)
    settings = mqtt.MqttSettings(broker.host, broker.port, tls=True)  # system CAs do not know ours
    with pytest.raises(MqttError, match="not trusted.*--mqtt-ca"):
        mqtt.publish_once(settings, reading(), None)


def test_broker_down_is_a_clear_mqtt_error(make_broker):
    broker = make_broker()
    broker.stop()
    with pytest.raises(MqttError, match=f"cannot connect to the MQTT broker at 127.0.0.1:{broker.port}"):
        mqtt.publish_once(mqtt.MqttSettings(broker.host, broker.port), reading(), None)


def test_long_running_availability_and_will(make_broker):
    broker = make_broker()
    publisher = mqtt.MqttPublisher(mqtt.MqttSettings(broker.host, broker.port), availability=True)
    publisher.connect()
    publisher.publish(reading(), None)
    retained = broker.retained()
    assert retained["xfinity/status"] == "online"
    check_discovery(retained, one_shot=False)
    publisher.close()
    assert broker.retained("xfinity/status")["xfinity/status"] == "offline"
    # the will: a connection that dies without a goodbye leaves "offline" too
    publisher = mqtt.MqttPublisher(mqtt.MqttSettings(broker.host, broker.port), availability=True)
    publisher.connect()
    assert broker.retained("xfinity/status")["xfinity/status"] == "online"
    publisher._client._sock.close()  # the socket dies; the broker sends the will
    deadline = time.monotonic() + 10
    while broker.retained("xfinity/status", quiet=0.2)["xfinity/status"] != "offline":
        assert time.monotonic() < deadline, "no will"
    publisher._drop()
