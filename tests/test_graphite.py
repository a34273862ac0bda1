"""Tests of xfinity_usage.sinks.graphite: metric names, validation, and real pushes to carbon-cache."""
from __future__ import annotations

import dataclasses
import math
import time
import uuid

import pytest

from xfinity_usage.errors import ConfigError, GraphiteError
from xfinity_usage.reading import Reading
from xfinity_usage.sinks.graphite import (
    GraphiteClient,
    overage_extra,
    reading_metrics,
    sanitize_path,
)

from .fixtures_carbon import free_port

TS = 1_700_000_000


def reading(used: float | None = 812.5, total: float | None = 1229.0, units: str = "GB", ts: int = TS) -> Reading:
    return Reading(used=used, total=total, units=units, data_timestamp=ts, raw={"usageMonths": []})


def unique_prefix() -> str:
    """A prefix no other test writes to (the carbon fixture is shared by the session)."""
    return f"test.x{uuid.uuid4().hex[:12]}"


class Recorder(GraphiteClient):
    """A client whose send() records instead of opening a socket."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, float, int]] = []

    def send(self, metric: str, value: float, timestamp: int) -> None:
        self.sent.append((metric, value, timestamp))


# -- reading_metrics ---------------------------------------------------------

def test_metric_names_values_and_timestamp():
    assert reading_metrics(reading()) == [("xfinity.used_gb", 812.5, TS), ("xfinity.total_gb", 1229.0, TS)]


def test_unit_is_lower_cased():
    assert [m for m, _, _ in reading_metrics(reading(units="TB"), prefix="home")] == ["home.used_tb", "home.total_tb"]


def test_total_none_is_left_out():
    assert reading_metrics(reading(total=None)) == [("xfinity.used_gb", 812.5, TS)]


def test_no_values_gives_no_metrics():
    assert reading_metrics(reading(used=None, total=None)) == []


def test_integers_become_floats():
    metrics = reading_metrics(reading(used=10, total=1024))
    assert [type(v) for _, v, _ in metrics] == [float, float]


def test_extras_are_relative_to_prefix_and_sanitized():
    extra = {"projected_gb": 1304.0, "device.AB:CD:EF:01:23:45_gb": 301.0, "device..my phone/1_gb": 2}
    metrics = reading_metrics(reading(total=None), prefix="home.isp", extra=extra)
    assert metrics == [
        ("home.isp.used_gb", 812.5, TS),
        ("home.isp.projected_gb", 1304.0, TS),
        ("home.isp.device.AB_CD_EF_01_23_45_gb", 301.0, TS),
        ("home.isp.device.my_phone_1_gb", 2.0, TS),
    ]


def test_prefix_is_sanitized_and_may_be_empty():
    assert reading_metrics(reading(total=None), prefix="my home..isp ")[0][0] == "my_home.isp_.used_gb"
    assert reading_metrics(reading(total=None), prefix="")[0][0] == "used_gb"


@pytest.mark.parametrize("name, expected", [
    ("a.b.c", "a.b.c"), ("a b", "a_b"), (".a..b.", "a.b"), ("é-x", "_-x"), ("a;tag=1", "a_tag_1"), ("", ""),
])
def test_sanitize_path(name, expected):
    assert sanitize_path(name) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "12", True])
@pytest.mark.parametrize("field", ["used", "total"])
def test_non_finite_or_non_numeric_values_are_rejected(field, bad):
    with pytest.raises(ValueError, match=field):
        reading_metrics(dataclasses.replace(reading(), **{field: bad}))


@pytest.mark.parametrize("bad", [math.nan, math.inf, None])
def test_bad_extra_values_are_rejected(bad):
    with pytest.raises(ValueError, match="projected_gb"):
        reading_metrics(reading(), extra={"projected_gb": bad})


@pytest.mark.parametrize("ts", [None, math.nan, 0, -5, "1700000000"])
def test_bad_timestamp_is_rejected(ts):
    with pytest.raises(ValueError, match="data_timestamp"):
        reading_metrics(reading(ts=ts))


@pytest.mark.parametrize("units", [None, "", "..", 5])
def test_bad_units_are_rejected(units):
    with pytest.raises(ValueError, match="units"):
        reading_metrics(reading(units=units))


def test_colliding_names_are_rejected():
    with pytest.raises(ValueError, match="collide: xfinity.used_gb"):
        reading_metrics(reading(), extra={"used:gb": 1.0})
    with pytest.raises(ValueError, match="empty"):
        reading_metrics(reading(), extra={"..": 1.0})


# -- GraphiteClient with send() overridden -----------------------------------

def test_send_reading_calls_send_once_per_metric():
    client = Recorder(prefix="home")
    client.send_reading(reading(), extra={"projected_gb": 1304.0})
    assert client.sent == [("home.used_gb", 812.5, TS), ("home.total_gb", 1229.0, TS),
                           ("home.projected_gb", 1304.0, TS)]


def test_invalid_reading_sends_nothing_and_raises_graphite_error():
    client = Recorder("graphite.example", 2004)
    with pytest.raises(GraphiteError, match=r"graphite\.example:2004: extra 'x' is not a finite") as info:
        client.send_reading(reading(), extra={"x": math.nan})
    assert client.sent == []
    assert info.value.exit_code == 9


def test_reading_without_values_sends_nothing(caplog):
    client = Recorder()
    client.send_reading(reading(used=None, total=None))
    assert client.sent == []
    assert "nothing to send" in caplog.text


def test_send_failure_becomes_one_line_graphite_error():
    class Broken(GraphiteClient):
        def send(self, metric, value, timestamp):
            raise ConnectionResetError(104, "Connection reset\nby peer")

    with pytest.raises(GraphiteError) as info:
        Broken("::1", 2003).send_reading(reading())
    message = str(info.value)
    assert "\n" not in message
    assert "[::1]:2003" in message and "xfinity.used_gb" in message and "Connection reset by peer" in message
    assert "carbon" in message


@pytest.mark.parametrize("port", [0, 65536, -1, True, "2003"])
def test_bad_port_is_a_config_error(port):
    with pytest.raises(ConfigError, match="port"):
        GraphiteClient(port=port)


# -- real sockets ------------------------------------------------------------

def test_connection_refused_raises_quickly(capsys):
    port = free_port()  # nothing listens there
    client = GraphiteClient("127.0.0.1", port, timeout=5.0)
    with pytest.raises(GraphiteError) as info:
        client.send_reading(reading())
    message = str(info.value)
    # refused at once, not timed out: the refusal is what the message names
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower() and "\n" not in message
    assert "timed out" not in message.lower()
    assert capsys.readouterr() == ("", "")  # raised, not printed


def test_push_is_read_back_from_whisper(carbon):
    prefix = unique_prefix()
    ts = int(time.time()) - 30
    GraphiteClient(carbon.host, carbon.port, prefix).send_reading(reading(ts=ts))
    assert carbon.read(f"{prefix}.used_gb") == [(ts, 812.5)]
    assert carbon.read(f"{prefix}.total_gb") == [(ts, 1229.0)]


def test_push_with_extras_and_unlimited_plan(carbon):
    prefix = unique_prefix()
    ts = int(time.time()) - 5
    extra = {"projected_gb": 1304.25, "device.AB:CD:EF:01:23:45_gb": 301.0}
    GraphiteClient(carbon.host, carbon.port, prefix).send_reading(reading(used=77.125, total=None, ts=ts),
                                                                  extra=extra)
    assert carbon.wait_for(f"{prefix}.used_gb", 77.125, timestamp=ts) == (ts, 77.125)
    assert carbon.wait_for(f"{prefix}.projected_gb", 1304.25, timestamp=ts) == (ts, 1304.25)
    assert carbon.wait_for(f"{prefix}.device.AB_CD_EF_01_23_45_gb", 301.0, timestamp=ts) == (ts, 301.0)
    assert not carbon.path(f"{prefix}.total_gb").exists()


def test_successive_readings_keep_their_own_timestamps(carbon):
    prefix = unique_prefix()
    client = GraphiteClient(carbon.host, carbon.port, prefix)
    now = int(time.time())
    client.send_reading(reading(used=100.0, total=1229.0, units="GB", ts=now - 120))
    client.send_reading(reading(used=101.5, total=1229.0, units="GB", ts=now - 60))
    carbon.wait_for(f"{prefix}.used_gb", 101.5, timestamp=now - 60)
    assert carbon.read(f"{prefix}.used_gb") == [(now - 120, 100.0), (now - 60, 101.5)]


def test_reading_days_old_is_kept_at_hour_precision(carbon):
    prefix = unique_prefix()
    ts = int(time.time()) - 3 * 86400 + 123
    GraphiteClient(carbon.host, carbon.port, prefix).send_reading(reading(used=55.5, total=None, units="MB", ts=ts))
    assert carbon.read(f"{prefix}.used_mb") == [(ts - ts % 3600, 55.5)]


# -- the overage charges (--graphite-extra) -----------------------------------

def over_cap_report(scenario: str):
    """The simulated account at 1100 of 1229 GB half-way through November 2026 (a fixed instant)."""
    import datetime

    from xfinity_usage.history.report import build_report
    from xfinity_usage.simulator import data
    from xfinity_usage.sources.usage import reading_from_json

    utc = datetime.timezone.utc
    now = datetime.datetime(2026, 11, 16, tzinfo=utc).timestamp()
    found = reading_from_json(data.usage_json(datetime.date(2026, 11, 16), scenario), now=now)
    return found, build_report([], found, now=now, tz=utc)


def test_overage_extra_has_the_charges_and_nothing_made_up():
    assert overage_extra(over_cap_report("over_cap")[1]) == {"overage_dollars": 0.0,
                                                             "projected_overage_dollars": 100.0}
    assert overage_extra(over_cap_report("over_cap_courtesy")[1]) == {"overage_dollars": 0.0,
                                                                      "projected_overage_dollars": 0.0}
    from xfinity_usage.history.overage import Terms, figures
    from xfinity_usage.history.report import Report

    empty = Report.empty("GB", 1229.0, "no figures")
    assert overage_extra(None) == overage_extra(empty) == {}
    no_projection = figures(1300.0, 1229.0, None, Terms("GB", block_size=50.0, cost_per_block=10.0))
    report = dataclasses.replace(empty, used=1300.0, overage=no_projection)
    assert overage_extra(report) == {"overage_dollars": 20.0}


def test_push_with_the_overage_extra(carbon):
    prefix = unique_prefix()
    found, report = over_cap_report("over_cap")
    ts = int(time.time()) - 5  # the figures are of the fixed instant; carbon keeps recent points at 1 s
    GraphiteClient(carbon.host, carbon.port, prefix).send_reading(dataclasses.replace(found, data_timestamp=ts),
                                                                  extra=overage_extra(report))
    assert carbon.wait_for(f"{prefix}.projected_overage_dollars", 100.0, timestamp=ts) == (ts, 100.0)
    assert carbon.wait_for(f"{prefix}.overage_dollars", 0.0, timestamp=ts) == (ts, 0.0)
    assert carbon.read(f"{prefix}.used_gb") == [(ts, 1100.0)]
