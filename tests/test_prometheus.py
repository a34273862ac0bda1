"""Prometheus export: names, base units, promtool and the client's own parser; textfile and /metrics."""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .fakeclient import fake_client
from xfinity_usage.sinks import prometheus as prom
from xfinity_usage.errors import ConfigError
from xfinity_usage.reading import Reading
from xfinity_usage.history.report import build_report

from .fixtures_clock import MID_CYCLE

NAMES = {"xfinity_usage_used_bytes", "xfinity_usage_allowance_bytes", "xfinity_usage_projected_bytes",
         "xfinity_usage_cycle_start_timestamp_seconds", "xfinity_usage_cycle_end_timestamp_seconds",
         "xfinity_usage_device_used_bytes", "xfinity_usage_plan_info",
         "xfinity_usage_last_success_timestamp_seconds", "xfinity_usage_up"}
OVERAGE = {"xfinity_usage_overage_dollars", "xfinity_usage_projected_overage_dollars"}
GB = 2 ** 30


def reading(total=1229.0):
    return Reading(used=500.0, total=total, units="GB", data_timestamp=int(MID_CYCLE.timestamp()),
                   cycle_start=datetime.date(2026, 11, 1), cycle_end=datetime.date(2026, 11, 30),
                   devices={"44:1C:A8:05:00:5E": 300.0, "phone": 0.5}, policy="limited", source="test")


def promtool(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool not found: install the Debian package prometheus", pytrace=False)
    proc = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def parse(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def values(text: str) -> dict:
    """Sample name -> value, for the samples without labels."""
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


def test_names_units_and_labels():
    collector = prom.UsageCollector()
    r = reading()
    collector.update(r, build_report([], r), when=1795900000.0)
    text = prom.render(collector)
    promtool(text)
    families = parse(text)
    assert set(families) == NAMES
    samples = {s.name + str(sorted(s.labels.items())): s.value for f in families.values() for s in f.samples}
    assert samples["xfinity_usage_allowance_bytes[]"] == 1229 * GB  # Xfinity's 1.2 TB plan: 1229 GB in 1024s
    assert samples["xfinity_usage_used_bytes[]"] == 500 * GB
    assert samples["xfinity_usage_device_used_bytes[('device', '44:1C:A8:05:00:5E')]"] == 300 * GB
    assert samples["xfinity_usage_plan_info[('policy', 'limited')]"] == 1
    assert samples["xfinity_usage_up[]"] == 1
    assert samples["xfinity_usage_last_success_timestamp_seconds[]"] == 1795900000.0
    start = samples["xfinity_usage_cycle_start_timestamp_seconds[]"]
    end = samples["xfinity_usage_cycle_end_timestamp_seconds[]"]
    assert datetime.datetime.fromtimestamp(start).date() == datetime.date(2026, 11, 1)
    assert datetime.datetime.fromtimestamp(end).date() == datetime.date(2026, 12, 1)
    for line in text.splitlines():  # every metric name the issue lists, and no date labels
        if not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name in NAMES | OVERAGE, name
            assert "date" not in line and "2026" not in line.split(" ")[0]
    assert "cached" not in text.lower()


def test_overage_dollars_of_an_over_cap_account(tmp_path):
    """The simulated account at 1100 of 1229 GB half-way through the cycle: $0 so far, $100 projected
    (the answer's maximum), in a textfile promtool accepts; $0 projected with a courtesy credit left."""
    from xfinity_usage.simulator import data
    from xfinity_usage.sources.usage import reading_from_json

    utc = datetime.timezone.utc
    now = datetime.datetime(2026, 11, 16, tzinfo=utc).timestamp()
    for scenario, projected in (("over_cap", 100.0), ("over_cap_courtesy", 0.0)):
        r = reading_from_json(data.usage_json(datetime.date(2026, 11, 16), scenario), now=now)
        path = tmp_path / f"{scenario}.prom"
        prom.write_reading(str(path), r, build_report([], r, now=now, tz=utc))
        text = path.read_text()
        promtool(text)
        metrics = values(text)
        assert metrics["xfinity_usage_overage_dollars"] == 0.0, scenario
        assert metrics["xfinity_usage_projected_overage_dollars"] == projected, scenario
        assert metrics["xfinity_usage_projected_bytes"] == 2200 * GB
        assert OVERAGE | NAMES == set(parse(text))


def test_no_terms_no_overage_metrics():
    collector = prom.UsageCollector()
    r = reading()  # no answer kept: no terms
    collector.update(r, build_report([], r))
    assert not OVERAGE & set(parse(prom.render(collector)))


def test_unlimited_plan_has_no_allowance_and_help_says_cached():
    collector = prom.UsageCollector(cached=True)
    collector.update(reading(total=None), None)
    text = prom.render(collector)
    promtool(text)
    families = parse(text)
    assert "xfinity_usage_allowance_bytes" not in families
    assert "xfinity_usage_projected_bytes" not in families  # no report: no projection
    assert all("Cached" in f.documentation for f in families.values())


def test_textfile_is_written_atomically_and_a_failure_keeps_the_last_success(tmp_path):
    path = tmp_path / "xfinity.prom"
    r = reading()
    prom.write_reading(str(path), r, build_report([], r))
    assert os.listdir(tmp_path) == ["xfinity.prom"]  # no temporary file left behind
    text = path.read_text()
    promtool(text)
    success = parse(text)["xfinity_usage_last_success_timestamp_seconds"].samples[0].value
    prom.write_failure(str(path))
    families = parse(path.read_text())
    promtool(path.read_text())
    assert families["xfinity_usage_up"].samples[0].value == 0
    assert families["xfinity_usage_last_success_timestamp_seconds"].samples[0].value == success
    assert "xfinity_usage_used_bytes" not in families


def test_metrics_server_serves_the_cached_reading():
    collector = prom.UsageCollector(cached=True)
    collector.update(reading(), None)
    server = prom.MetricsServer(collector, port=_free_port()).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    finally:
        server.close()
    promtool(text)
    assert parse(text)["xfinity_usage_used_bytes"].samples[0].value == 500 * GB


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"pip install 'xfinity-usage\[prometheus\]'"):
        prom.render(prom.UsageCollector())


def _free_port() -> int:
    from .fixtures_mqtt import free_port

    return free_port()


def test_a_failed_one_shot_run_marks_the_textfile_down(tmp_path, monkeypatch):
    import io

    from xfinity_usage.cli.main import Environment, main
    from xfinity_usage.errors import SiteUnavailableError

    path = tmp_path / "xfinity.prom"
    fake_client(monkeypatch, lambda args, env: reading())
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert main(["--no-history", "--prometheus-textfile", str(path)], Environment(env, io.StringIO(),
                                                                                  io.StringIO())) == 0
    assert values(path.read_text())["xfinity_usage_up"] == 1.0

    def fail(args, env):
        raise SiteUnavailableError("site down")

    fake_client(monkeypatch, fail)
    err = io.StringIO()
    assert main(["--no-history", "--prometheus-textfile", str(path)], Environment(env, io.StringIO(), err)) == 6
    metrics = values(path.read_text())
    assert metrics["xfinity_usage_up"] == 0.0 and metrics["xfinity_usage_last_success_timestamp_seconds"] > 0
    assert err.getvalue() == "xfinity-usage: site unavailable: site down\n"
