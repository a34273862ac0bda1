"""The sink seam: every sink gets every reading, a failing one is one stderr line naming it, and the
webhook sink (``--webhook``) against a real HTTP(S) server started by the tests."""
from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import socket

import pytest

from .fakeclient import fake_client
from xfinity_usage import sinks
from xfinity_usage.cli.main import Environment, main
from xfinity_usage.errors import ExitCode, WebhookError, XfinityUsageError
from xfinity_usage.history.overage import Terms, figures
from xfinity_usage.history.report import DeviceUsage, Report
from xfinity_usage.pipeline import Pipeline
from xfinity_usage.reading import Reading
from xfinity_usage.retry import Backoff
from xfinity_usage.sinks.webhook import WebhookSink, body, shown

#: 2027-03-16 12:00 UTC: half-way through a March cycle.
WHEN = int(datetime.datetime(2027, 3, 16, 12, tzinfo=datetime.timezone.utc).timestamp())
READING = Reading(used=600.0, total=1229.0, units="GB", data_timestamp=WHEN, cycle_start=datetime.date(2027, 3, 1),
                  cycle_end=datetime.date(2027, 3, 31), source="app", raw={"any": "thing"})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(monkeypatch, tmp_path, argv, env=None, reading=READING):
    fake_client(monkeypatch, lambda args, e: reading)
    out, err = io.StringIO(), io.StringIO()
    full_env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})}
    code = main(argv, Environment(full_env, out, err))
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- the seam


class Recorder:
    def __init__(self, name, fail=None):
        self.name, self.fail, self.wants_report = name, fail, False
        self.calls = []

    def open(self):
        self.calls.append("open")

    def publish(self, reading, report):
        self.calls.append(("publish", reading.used))
        if self.fail:
            raise self.fail

    def failed(self, error):
        self.calls.append(("failed", type(error).__name__))

    def close(self):
        self.calls.append("close")


def test_a_failing_sink_does_not_stop_the_others():
    first, broken, last = Recorder("a"), Recorder("b", WebhookError("down")), Recorder("c")
    with Pipeline(lambda: READING, sinks=[first, broken, last]) as pipeline:
        outcome = pipeline.run()
        outcome2 = pipeline.run()
    assert [(f.sink, str(f.error)) for f in outcome.failures] == [("b", "down")] == \
        [(f.sink, str(f.error)) for f in outcome2.failures]
    for sink in (first, broken, last):
        assert sink.calls == ["open", ("publish", 600.0), ("publish", 600.0), "close"]


def test_a_sink_with_a_bug_is_a_failure_too_and_the_others_are_fed():
    broken, last = Recorder("b", KeyError("oops")), Recorder("c")
    with Pipeline(lambda: READING, sinks=[broken, last]) as pipeline:
        outcome = pipeline.run()
    [failure] = outcome.failures
    assert failure.sink == "b" and failure.error.exit_code == ExitCode.ERROR
    assert str(failure.error).startswith("unexpected error: KeyError: 'oops'")
    assert last.calls == ["open", ("publish", 600.0), "close"]


def test_a_run_without_a_reading_tells_every_sink_then_raises():
    def fail():
        raise XfinityUsageError("no")

    recorders = [Recorder("a"), Recorder("b")]
    with Pipeline(fail, sinks=recorders) as pipeline, pytest.raises(XfinityUsageError):
        pipeline.run()
    assert all(r.calls == ["open", ("failed", "XfinityUsageError"), "close"] for r in recorders)


def test_every_registered_sink_module_has_the_interface():
    from xfinity_usage.cli.main import build_parser
    from xfinity_usage.cli.runs import settings_of

    names = []
    defaults = build_parser().parse_args([])
    for module in sinks.modules():
        assert callable(module.add_arguments) and callable(module.build)
        assert dataclasses.is_dataclass(module.Settings)
        # every field is an option the parser knows, and the parser's defaults are the settings' own
        assert all(hasattr(defaults, f.name) for f in dataclasses.fields(module.Settings)), module.NAME
        assert settings_of(module.Settings, defaults) == module.Settings(), module.NAME
        names.append(module.NAME)
    assert names == list(sinks.MODULES) == ["graphite", "mqtt", "prometheus", "webhook", "notify"]


def test_graphite_down_still_feeds_prometheus_and_the_webhook(monkeypatch, tmp_path, receiver):
    textfile = tmp_path / "xfinity.prom"
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "-g", "-P", str(closed_port()),
                                                     "--prometheus-textfile", str(textfile),
                                                     "--webhook", receiver.url()])
    assert code == ExitCode.GRAPHITE == 9
    assert out == "Used 600 of 1229 GB this month.\n"
    assert err.count("\n") == 1 and err.startswith("xfinity-usage: graphite: cannot send xfinity.")
    assert "xfinity_usage_used_bytes" in textfile.read_text() and "xfinity_usage_up 1.0" in textfile.read_text()
    assert receiver.json_bodies()[0]["used"] == 600.0


def test_each_failing_sink_is_one_line_and_the_first_gives_the_exit_code(monkeypatch, tmp_path):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--webhook", f"http://127.0.0.1:{closed_port()}/h",
                                                     "--prometheus-textfile", str(tmp_path / "no" / "such" / "x.prom")],
                             env={"WEBHOOK_TOKEN": "tok-0123456789"})
    lines = err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["prometheus", "webhook"]
    assert code == ExitCode.PROMETHEUS == 13


def test_check_mode_keeps_the_state_when_a_sink_fails(monkeypatch, tmp_path):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--warn", "99", "--crit", "100", "--on", "used",
                                                     "--webhook", f"http://127.0.0.1:{closed_port()}/h"])
    assert code == 0 and out.startswith("XFINITY USAGE OK - ")
    assert err.startswith("xfinity-usage: webhook: cannot POST to http://127.0.0.1:") and "/h" not in err


# ---------------------------------------------------------------- the webhook


def test_webhook_posts_the_reading_with_the_report_and_a_bearer_token(monkeypatch, tmp_path, receiver):
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-webhook-token\n")
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"),
                                                     "--webhook", receiver.url()],
                             env={"WEBHOOK_TOKEN_FILE": str(token_file)})
    assert code == 0, err
    [request] = receiver.requests
    assert request["headers"]["Authorization"] == "Bearer s3cr3t-webhook-token"
    assert request["headers"]["Content-Type"] == "application/json"
    sent = json.loads(request["body"])
    assert {k: sent[k] for k in ("used", "total", "units", "cycle_start", "cycle_end", "source", "data_timestamp",
                                 "time")} == {
        "used": 600.0, "total": 1229.0, "units": "GB", "cycle_start": "2027-03-01", "cycle_end": "2027-03-31",
        "source": "app", "data_timestamp": WHEN, "time": "2027-03-16T12:00:00Z"}
    assert sent["projected"] == sent["report"]["projected"] and sent["projected"] > 600.0
    assert sent["report"]["used"] == 600.0
    assert list(sent["report"]) == sorted(dataclasses.asdict(Report.empty(None, None, "")))  # its to_dict, whole
    assert sent["overage"] is None and sent["report"]["overage"] is None  # READING carries no answer: no terms
    assert b"s3cr3t-webhook-token" not in request["body"]


def test_webhook_without_history_sends_no_report(monkeypatch, tmp_path, receiver):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--webhook", receiver.url()])
    assert code == 0, err
    sent = receiver.json_bodies()[0]
    assert "report" not in sent and sent["projected"] is not None
    assert "Authorization" not in receiver.requests[0]["headers"]


def test_webhook_retries_a_5xx_and_honours_retry_after(receiver):
    receiver.answers = [(503, {}), (429, {"Retry-After": "2"})]
    waits = []
    sink = WebhookSink(receiver.url(), timeout=30, backoff=lambda: Backoff(sleep=waits.append))
    sink.publish(READING, None)
    assert len(receiver.requests) == 3 and waits[1] == 2.0 and 0 < waits[0] <= 0.5


def test_webhook_gives_up_when_retry_after_does_not_fit_the_deadline(receiver):
    receiver.answers = [(429, {"Retry-After": "600"})]
    sink = WebhookSink(receiver.url(), timeout=5, backoff=lambda: Backoff(sleep=lambda s: None))
    with pytest.raises(WebhookError, match="answered HTTP 429"):
        sink.publish(READING, None)
    assert len(receiver.requests) == 1


def test_webhook_4xx_is_not_retried(receiver):
    receiver.answers = [(404, {})]
    with pytest.raises(WebhookError, match="answered HTTP 404") as caught:
        WebhookSink(receiver.url(), backoff=lambda: Backoff(sleep=lambda s: None)).publish(READING, None)
    assert len(receiver.requests) == 1 and caught.value.exit_code == ExitCode.WEBHOOK == 15


def test_webhook_tls_is_always_verified(tls_receiver, mqtt_ca):
    with pytest.raises(WebhookError, match="TLS certificate of https://127.0.0.1:.* is not trusted"):
        WebhookSink(tls_receiver.url()).publish(READING, None)
    assert tls_receiver.requests == []
    WebhookSink(tls_receiver.url(), ca_certs=str(mqtt_ca.ca_cert)).publish(READING, None)
    assert tls_receiver.json_bodies()[0]["used"] == 600.0


def test_secrets_in_the_webhook_url_never_show(monkeypatch, tmp_path):
    url = f"http://hookuser:hookpass-123456@127.0.0.1:{closed_port()}/h?key=querysecret-98765"
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "-vv", "--webhook", url],
                             env={"WEBHOOK_TOKEN": "tok-abcdefghijk"})
    assert code == ExitCode.WEBHOOK
    for secret in ("hookpass-123456", "querysecret-98765", "tok-abcdefghijk", "hookuser"):
        assert secret not in err and secret not in out
    assert shown(url) == f"http://127.0.0.1:{url.split(':')[3].split('/')[0]}/…"
    assert shown("https://ha.lan:8123/api/webhook/0123456789abcdef") == "https://ha.lan:8123/…"
    assert shown("http://ha.lan/") == "http://ha.lan/"


def test_webhook_needs_an_http_url(monkeypatch, tmp_path):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--webhook", "ftp://example.org/x"])
    assert code == ExitCode.CONFIGURATION and "--webhook ftp://example.org/… is not an http://" in err
    assert out == ""  # refused before any reading


def test_body_of_an_unlimited_plan(monkeypatch):
    unlimited = Reading(used=50.0, total=None, units="GB", data_timestamp=WHEN, source="browser")
    sent = body(unlimited, None, with_report=False)
    assert sent["total"] is None and sent["cycle_start"] is None and "report" not in sent
    assert json.dumps(sent)  # JSON-able as it is
    assert os.linesep not in sent["time"]


def test_body_carries_the_report_as_its_json():
    terms = Terms("GB", block_size=50.0, cost_per_block=10.0, maximum=100.0)
    report = dataclasses.replace(Report.empty("GB", 1229.0, "unused"), used=600.0, percent=48.82, projected=1240.0,
                                 projection_basis="last_24h", days_left=15.5,
                                 overage=figures(600.0, 1229.0, 1240.0, terms))
    sent = body(READING, report)
    assert sent["report"] == report.to_dict() and json.loads(json.dumps(sent)) == sent
    assert sent["overage"] == report.to_dict()["overage"] and sent["overage"]["projected_charge"] == 10.0
    assert (sent["percent"], sent["projected"], sent["projection_basis"], sent["days_left"]) == (
        48.82, 1240.0, "last_24h", 15.5)
    assert sent["cycle_start"] == "2027-03-01"  # the reading's own cycle
    assert "report" not in body(READING, report, with_report=False)


def test_graphite_extra_carries_the_overage_from_the_report():
    from xfinity_usage.sinks.graphite import extra_metrics

    terms = Terms("GB", block_size=50.0, cost_per_block=10.0, maximum=100.0)  # the real answers' terms
    empty = Report.empty("GB", 1229.0, "unused")
    report = dataclasses.replace(empty, used=1100.0, projected=2200.0, devices=(DeviceUsage("AA:BB", 10.0),),
                                 overage=figures(1100.0, 1229.0, 2200.0, terms))
    assert extra_metrics(READING, report) == {"device.AA:BB_gb": 10.0, "projected_gb": 2200.0,
                                              "overage_dollars": 0.0, "projected_overage_dollars": 100.0}
    assert extra_metrics(READING, empty) == {} and extra_metrics(READING, None) == {}
