"""--demo with every sink, end to end: MQTT (real mosquitto), the Prometheus textfile, and --interval.

The one-shot runs read with the app route (``--demo --source app``): the
sinks get the reading whatever read it, and no browser is started (a fresh
one costs seconds of CPU). The --interval test keeps the browser: it checks
that the first run signs in with it and the next reuse the session.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .fixtures_browsers import share_warm_start
from .fixtures_mqtt import free_port
from .proctools import MARKER_ENV, browser_processes, new_browser_processes
from .test_mqtt import check_discovery
from .test_prometheus import promtool
from .test_stop_and_start import stop_limit

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "xfinity_usage"]


@pytest.fixture
def cli_env(tmp_path):
    return dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=share_warm_start(tmp_path / "cache"),
                XDG_CONFIG_HOME=str(tmp_path / "config"))


def test_demo_one_shot_feeds_mqtt_and_the_textfile(make_broker, cli_env, tmp_path):
    """The subject is the sinks: the demo reads with the app route, no browser."""
    broker = make_broker(user="ha", password="pw-e2e")
    textfile = tmp_path / "xfinity.prom"
    proc = subprocess.run(CLI + ["--demo", "--source", "app", "--mqtt-host", broker.host, "--mqtt-port",
                                 str(broker.port), "--mqtt-user", "ha", "--prometheus-textfile", str(textfile)],
                          env=dict(cli_env, MQTT_PASSWORD="pw-e2e"), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    states = check_discovery(broker.retained())
    assert float(states["used"]) > 0 and states["allowance"] == "1230"
    promtool(textfile.read_text())


def test_demo_broker_down_exits_with_the_mqtt_code(make_broker, cli_env):
    """The subject is the exit code: the demo reads with the app route, no browser."""
    broker = make_broker()
    broker.stop()
    proc = subprocess.run(CLI + ["--demo", "--source", "app", "--mqtt-host", broker.host, "--mqtt-port",
                                 str(broker.port)], env=cli_env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 11, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("xfinity-usage: mqtt: cannot connect to the MQTT broker")


def test_interval_runs_feeds_sinks_refuses_a_second_process_and_stops_on_sigterm(make_broker, cli_env, tmp_path):
    """A real browser: the first run signs in with it, the next reuse its session, and none is left."""
    broker = make_broker()
    port = free_port()
    cookie_file = tmp_path / "cookies.json"
    textfile = tmp_path / "loop.prom"
    marker = os.environ.get(MARKER_ENV)
    before = browser_processes(marker)
    command = CLI + ["--demo", "-b", "phantomjs", "--interval", "0.5", "--cookie-file", str(cookie_file),
                     "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), "--metrics-port", str(port),
                     "--prometheus-textfile", str(textfile)]
    proc = subprocess.Popen(command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # the first run signs in; the next use the session
        assert all(" source " in line and "next run" in line for line in lines), lines
        assert " source browser: " in lines[0] and " source session: " in lines[2]
        # a second process on the same account refuses to start
        second = subprocess.run(command[:-6], env=cli_env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 14, second.stderr
        assert "already runs for this account" in second.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            metrics = answer.read().decode()
        promtool(metrics)
        families = {f.name: f for f in text_string_to_metric_families(metrics)}
        assert families["xfinity_usage_up"].samples[0].value == 1
        assert "Cached" in families["xfinity_usage_used_bytes"].documentation
        assert broker.retained("xfinity/status")["xfinity/status"] == "online"
        check_discovery(broker.retained(), one_shot=False)
        limit = stop_limit()  # issue 13: a signal ends a run within 2 s (a margin on an overloaded machine)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {limit:g} s after SIGTERM (load average {os.getloadavg()[0]:.1f})")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    # a stop is not an error: paho's network thread once logged "Client is not connected" at ERROR
    assert ": error: " not in err, err
    assert broker.retained("xfinity/status")["xfinity/status"] == "offline"
    assert not new_browser_processes(before, timeout=5, marker=marker)
    promtool(textfile.read_text())
