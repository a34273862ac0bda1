"""CLI unit tests: arguments, credentials, exit codes and one-line errors (no browser)."""
import io
import subprocess
import sys

import pytest

from .fakeclient import fake_client
from xfinity_usage.sinks.graphite import GraphiteSink
from xfinity_usage import errors
from xfinity_usage.cli import main as cli, runs
from xfinity_usage.cli.main import Environment, build_parser, main
from xfinity_usage.errors import ExitCode
from xfinity_usage.sources.usage import reading_from_dict

READING = reading_from_dict({"data_timestamp": 1700000000, "units": "GB", "used": 224.0, "total": 1229.0,
                             "raw": {"x": 1}})


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """Keep history and cookies of these runs out of the real home directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def run_cli(argv, env=None):
    import os

    out, err = io.StringIO(), io.StringIO()
    env = dict(env or {})
    env.setdefault("XDG_DATA_HOME", os.environ["XDG_DATA_HOME"])
    env.setdefault("XDG_CACHE_HOME", os.environ["XDG_CACHE_HOME"])
    code = main(argv, Environment(env, out, err))
    return code, out.getvalue(), err.getvalue()


def test_version_and_help():
    assert subprocess.run([sys.executable, "-m", "xfinity_usage", "--version"], capture_output=True,
                          text=True).stdout.startswith("xfinity-usage ")
    help_text = subprocess.run([sys.executable, "-m", "xfinity_usage", "-h"], capture_output=True, text=True).stdout
    for option in ("--cookie-file", "--browser", "--json", "--graphite", "--graphite-host", "--graphite-port",
                   "--graphite-prefix", "--verbose", "--version", "--demo", "XFINITY_PASSWORD_FILE"):
        assert option in help_text


def test_version_imports_no_selenium():
    code = ("import sys, contextlib, io\nfrom xfinity_usage.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--version'])\n    main(['-h'])\n"
            "bad = [m for m in sys.modules if m.startswith(('selenium', 'xfinity_usage.sources.site', "
            "'xfinity_usage.browsers.phantomjs', 'urllib3', "
            "'xfinity_usage.cli.loop', 'xfinity_usage.pipeline', 'xfinity_usage.reading', 'ssl', 'paho', 'prometheus_client', 'apprise'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_browser_names_are_those_of_3_0_4():
    assert set(cli.BROWSERS) == {"phantomjs", "firefox", "firefox-headless", "chrome", "chrome-headless"}
    assert build_parser().parse_args([]).browser == "firefox-headless"


def test_unknown_browser_is_a_usage_error():
    code, out, err = run_cli(["-b", "lynx"])
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize("env,fragment", [
    ({}, "XFINITY_USER is not set"),
    ({"XFINITY_USER": "me"}, "XFINITY_PASSWORD (or XFINITY_PASSWORD_FILE) is not set"),
    ({"XFINITY_USER": "me", "XFINITY_PASSWORD_FILE": "/nonexistent/pw"}, "cannot read XFINITY_PASSWORD_FILE"),
])
def test_missing_credentials(env, fragment):
    code, out, err = run_cli([], env)
    assert code == ExitCode.USAGE
    assert fragment in err and err.count("\n") == 1 and out == ""


def test_password_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text("s3cret-from-file\n")
    assert runs.read_credentials({"XFINITY_USER": "me", "XFINITY_PASSWORD_FILE": str(path)}) == (
        "me", "s3cret-from-file")
    # XFINITY_PASSWORD wins over the file
    assert runs.read_credentials({"XFINITY_USER": "me", "XFINITY_PASSWORD": "p",
                                 "XFINITY_PASSWORD_FILE": str(path)})[1] == "p"


@pytest.mark.parametrize("exc_class", [
    errors.BadCredentialsError, errors.AccountActionRequiredError, errors.AccessDeniedError,
    errors.SiteUnavailableError, errors.SiteChangedError, errors.DataError, errors.BrowserError,
    errors.GraphiteError, errors.ConfigError])
def test_each_error_one_line_and_its_exit_code(monkeypatch, exc_class):
    def fail(args, env):
        raise exc_class("what happened; what to do")

    fake_client(monkeypatch, fail)
    code, out, err = run_cli([], {"XFINITY_USER": "user@example.com", "XFINITY_PASSWORD": "pw-123456"})
    assert code == exc_class.exit_code
    hint = "; check XFINITY_USER and XFINITY_PASSWORD" if exc_class is errors.BadCredentialsError else ""
    assert err == f"xfinity-usage: {exc_class.label}: what happened; what to do{hint}\n"
    assert out == ""


def test_exit_codes_distinct():
    codes = [errors.ConfigError, errors.BadCredentialsError, errors.AccountActionRequiredError,
             errors.AccessDeniedError, errors.SiteUnavailableError, errors.SiteChangedError,
             errors.BrowserError, errors.GraphiteError]
    assert len({c.exit_code for c in codes}) == len(codes)
    assert 0 not in {c.exit_code for c in codes}


def test_unexpected_error_is_one_line_with_traceback_only_at_vv(monkeypatch):
    def boom(args, env):
        raise RuntimeError("kaput")

    fake_client(monkeypatch, boom)
    code, out, err = run_cli([], {})
    assert code == ExitCode.ERROR and err.count("\n") == 1 and "Traceback" not in err
    code, out, err = run_cli(["-vv"], {})
    assert "Traceback" in err and "kaput" in err


def test_human_and_json_output(monkeypatch):
    fake_client(monkeypatch, lambda args, env: READING)
    assert run_cli([])[1] == "Used 224 of 1229 GB this month.\n"
    import json

    assert json.loads(run_cli(["-j"])[1]) == READING.to_dict()


def test_json_and_graphite_both_happen(monkeypatch):
    sent = []
    fake_client(monkeypatch, lambda args, env: READING)
    monkeypatch.setattr(GraphiteSink, "publish", lambda sink, reading, report: sent.append(
        (sink.host, sink.port, sink.prefix, reading)))
    code, out, err = run_cli(["-j", "-g", "-H", "10.9.9.9", "-P", "2004", "-p", "home"])
    assert code == 0 and out.startswith("{")
    assert sent == [("10.9.9.9", 2004, "home", READING)]


def test_graphite_entry_point_implies_graphite(monkeypatch):
    sent = []
    fake_client(monkeypatch, lambda args, env: READING)
    monkeypatch.setattr(GraphiteSink, "publish", lambda sink, reading, report: sent.append(reading))
    assert cli.main_graphite(["--no-history"], Environment({}, io.StringIO(), io.StringIO())) == 0
    assert sent == [READING]


def test_secrets_masked_in_errors(monkeypatch):
    def leak(args, env):
        raise errors.SiteChangedError("page said hunter2-password")

    fake_client(monkeypatch, leak)
    code, out, err = run_cli(["-vv"], {"XFINITY_USER": "u", "XFINITY_PASSWORD": "hunter2-password"})
    assert "hunter2-password" not in err and "********" in err


def month_json(start, end, used, total=1229.0):
    return {"startDate": start, "endDate": end, "homeUsage": used, "allowableUsage": total,
            "unitOfMeasure": "GB", "policy": "limited",
            "devices": [{"id": "AB:CD:EF:01:23:45", "usage": used - 100}, {"id": "12:34:56:78:90:AB", "usage": 100}]}


def reading_at(ts, used):
    import datetime

    day = datetime.date.fromtimestamp(ts)
    start = day.replace(day=1)
    end = (start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    raw = {"usageMonths": [month_json(start.strftime("%m/%d/%Y"), end.strftime("%m/%d/%Y"), used)]}
    return reading_from_dict({"data_timestamp": int(ts), "units": "GB", "used": used, "total": 1229.0, "raw": raw})


@pytest.fixture
def history_env(monkeypatch, tmp_path, mid_cycle):
    """A CLI whose fetch returns the next of a series of readings, with a private history file.

    The clock stands in the middle of a cycle (``mid_cycle``): the readings are 1.5 days and
    1 hour old, both in this cycle, so the report has a last-24-hour pace to project from.
    """
    now = mid_cycle.timestamp()
    series = [reading_at(now - 86400 * 1.5, 300.0), reading_at(now - 3600, 330.0)]
    fake_client(monkeypatch, lambda args, env: series.pop(0))
    return ["--history-db", str(tmp_path / "h" / "history.sqlite3")]


def test_history_is_recorded_and_reported(history_env, tmp_path):
    import json
    import os
    import stat

    assert run_cli(history_env)[0] == 0
    db = tmp_path / "h" / "history.sqlite3"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    code, out, err = run_cli(history_env + ["--report", "-j"])
    assert code == 0, err
    report = json.loads(out)
    assert report["used"] == 330.0 and report["total"] == 1229.0
    # 30 GB in the 35 hours between the readings, 24 of them in the last day; 16.54 days left
    assert report["rate_last_24h"] == pytest.approx(30 * 24 / 35, abs=0.001)
    assert report["projected"] == pytest.approx(330 + 30 * 24 / 35 * (16 * 24 + 13) / 24, abs=0.001)
    assert {d["id"] for d in report["devices"]} == {"AB:CD:EF:01:23:45", "12:34:56:78:90:AB"}


def test_report_text(history_env):
    run_cli(history_env)
    code, out, err = run_cli(history_env + ["--report"])
    assert code == 0 and "330" in out and "#" in out
    assert max(len(line) for line in out.splitlines()) <= 72


@pytest.mark.parametrize("args,state,word", [
    (["--warn", "99", "--crit", "100", "--on", "used"], 0, "OK"),
    (["--warn", "20", "--crit", "90", "--on", "used"], 1, "WARNING"),
    (["--warn", "10", "--crit", "20", "--on", "used"], 2, "CRITICAL"),
])
def test_nagios_states(history_env, args, state, word):
    code, out, err = run_cli(history_env + args)
    assert code == state
    line = out.splitlines()[0]
    assert line.startswith(f"XFINITY USAGE {word} - ") and "|" in line and "used=" in line


def test_nagios_unknown_on_failure(monkeypatch):
    def fail(args, env):
        raise errors.SiteUnavailableError("site down; try again later")

    fake_client(monkeypatch, fail)
    code, out, err = run_cli(["--warn", "80", "--crit", "90"])
    assert code == 3 and out.startswith("XFINITY USAGE UNKNOWN - site unavailable: site down")


def test_warn_above_crit_is_unknown_for_nagios():
    code, out, err = run_cli(["--warn", "90", "--crit", "80"])
    assert code == 3 and out.startswith("XFINITY USAGE UNKNOWN - ") and "--warn (90)" in err


def test_no_history_writes_nothing(history_env, tmp_path):
    assert run_cli(history_env + ["--no-history"])[0] == 0
    assert not (tmp_path / "h").exists()
