"""``--notify``: one message per change of state, through Apprise's ``json://`` URL to a real HTTP server
started by the tests (:mod:`tests.fixtures_http`); the state kept in the history database."""
from __future__ import annotations

import datetime
import io
import sqlite3
import threading

import pytest

from .fakeclient import fake_client
from .fixtures_clock import local_zone
from .test_sinks import closed_port
from xfinity_usage.cli.main import build_parser, main
from xfinity_usage.cli.environment import Environment
from xfinity_usage.errors import ExitCode
from xfinity_usage.history.report import build_report
from xfinity_usage.cli.loop import run_loop
from xfinity_usage.reading import Reading
from xfinity_usage.sinks import notify

UTC = datetime.timezone.utc
START, END = datetime.date(2027, 3, 1), datetime.date(2027, 3, 31)
#: The secret parts of the notification URL: none may show anywhere.
PASSWORD, PATH_TOKEN = "pa55-s3cr3t-word", "tok3n-s3cr3t-path"
SECRETS = (PASSWORD, PATH_TOKEN)


@pytest.fixture(autouse=True)
def utc_is_local():
    """The figures below are worked out with cycles starting at UTC midnight: UTC is the local zone."""
    with local_zone("UTC"):
        yield


def at(day, hour=12):
    return int(datetime.datetime(2027, 3, day, hour, tzinfo=UTC).timestamp())


def usage_raw(used, courtesy_remaining=0):
    """The usage JSON's shape (thor0215/hassio-xfinity-usage tests/const.py): the month's terms, the
    account's courtesy credits."""
    month = {"startDate": "03/01/2027", "endDate": "03/31/2027", "homeUsage": used, "allowableUsage": 1229,
             "unitOfMeasure": "GB", "policy": "limited", "additionalBlockSize": 50, "additionalCostPerBlock": 10,
             "maximumOverageCharge": 100, "overageCharges": 0.0}
    return {"courtesyUsed": 1 - courtesy_remaining, "courtesyRemaining": courtesy_remaining, "courtesyAllowed": 1,
            "courtesyMonths": [], "inPaidOverage": False, "usageMonths": [month]}


def reading(day, used, hour=12, courtesy_remaining=0):
    return Reading(used=used, total=1229.0, units="GB", data_timestamp=at(day, hour), cycle_start=START,
                   cycle_end=END, source="app", raw=usage_raw(used, courtesy_remaining))


def url_of(receiver, path=f"/hooks/{PATH_TOKEN}"):
    return f"json://notifier:{PASSWORD}@127.0.0.1:{receiver.port}{path}"


def run_cli(monkeypatch, tmp_path, argv, the_reading, env=None):
    fake_client(monkeypatch, lambda args, e: the_reading)
    out, err = io.StringIO(), io.StringIO()
    full_env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})}
    code = main(argv, Environment(full_env, out, err))
    return code, out.getvalue(), err.getvalue()


def messages(receiver):
    return [(body["title"], body["message"], body["type"]) for body in receiver.json_bodies()]


def assert_no_secret(*texts):
    for text in texts:
        text = text.decode() if isinstance(text, bytes) else text
        for secret in SECRETS:
            assert secret not in text, text


# ---------------------------------------------------------------- once per change


def test_rising_usage_sends_one_message_per_change(monkeypatch, tmp_path, receiver):
    history = ["--history-db", str(tmp_path / "h.sqlite3")]
    argv = history + ["-vv", "--on", "used", "--notify", url_of(receiver)]
    outputs = []
    for the_reading in (reading(5, 600.0), reading(10, 1010.0), reading(11, 1050.0)):  # OK, WARNING, WARNING
        code, out, err = run_cli(monkeypatch, tmp_path, argv, the_reading)
        assert code == 0, err
        outputs += [out, err]
    [(title, body, kind)] = messages(receiver)
    assert title == "Xfinity usage WARNING: 1010 of 1229 GB (82%)" and kind == "warning"
    assert body.splitlines()[0] == "Used 1010 of 1229 GB (82.2%), 219 GB left"
    assert body.splitlines()[-1] == "Judged on the used usage: WARNING above 80%, CRITICAL above 95% of the cap"
    code, out, err = run_cli(monkeypatch, tmp_path, argv, reading(13, 1180.0))  # CRITICAL: a second message
    outputs += [out, err]
    assert code == 0 and len(receiver.requests) == 2
    assert receiver.json_bodies()[1]["title"] == "Xfinity usage CRITICAL: 1180 of 1229 GB (96%)"
    assert receiver.requests[1]["path"] == f"/hooks/{PATH_TOKEN}"  # the URL reached the server whole
    assert all(request["headers"]["User-Agent"] == "xfinity-usage" for request in receiver.requests)
    assert_no_secret(*outputs, *(request["body"] for request in receiver.requests))
    assert "json://…" in "".join(outputs) and "told json://…: Xfinity usage CRITICAL" in "".join(outputs)
    # the state lives in the history database, under a hash of the URL, never the URL
    db = sqlite3.connect(str(tmp_path / "h.sqlite3"))
    assert db.execute("SELECT key, state, changed FROM notify_state").fetchall() == [
        (notify.key_of(url_of(receiver)), "CRITICAL", at(13))]
    db.close()


def test_back_to_ok_is_told_and_unknown_changes_nothing(monkeypatch, tmp_path, receiver):
    argv = ["--history-db", str(tmp_path / "h.sqlite3"), "--warn", "80", "--crit", "95", "--on", "used",
            "--notify", url_of(receiver)]
    code, out, err = run_cli(monkeypatch, tmp_path, argv, reading(20, 1100.0))
    assert code == 1 and out.startswith("XFINITY USAGE WARNING - "), (out, err)  # --warn: a Nagios check too
    april = datetime.datetime(2027, 4, 1, 1, tzinfo=UTC).timestamp()
    no_figure = Reading(used=None, total=None, units="GB", data_timestamp=int(april), source="app")
    code, out, err = run_cli(monkeypatch, tmp_path, argv, no_figure)
    assert code == 3 and len(receiver.requests) == 1  # UNKNOWN: nothing told, nothing recorded
    new_cycle = Reading(used=3.0, total=1229.0, units="GB", data_timestamp=int(april) + 60,
                        cycle_start=datetime.date(2027, 4, 1), cycle_end=datetime.date(2027, 4, 30), source="app")
    code, out, err = run_cli(monkeypatch, tmp_path, argv, new_cycle)
    assert code == 0 and [m[0] for m in messages(receiver)] == ["Xfinity usage WARNING: 1100 of 1229 GB (90%)",
                                                                "Xfinity usage OK: 3.0 of 1229 GB (0%)"]
    assert messages(receiver)[-1][2] == "success"


def test_judged_on_the_projection_by_default_with_the_charge(monkeypatch, tmp_path, receiver):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"),
                                                     "--notify", url_of(receiver)], reading(16, 700.0))
    assert code == 0 and out == "Used 700 of 1229 GB this month.\n", err
    [(title, body, kind)] = messages(receiver)  # the first run tells a state that is not OK
    assert title == "Xfinity usage CRITICAL: 700 of 1229 GB (57%)" and kind == "failure"
    assert body == ("Used 700 of 1229 GB (57.0%), 529 GB left\n"
                    "Projected 1400 GB at the end of the cycle (114% of the cap)\n"
                    "Projected overage charge: $40\n"
                    "15.5 days left; the cycle ends on 2027-03-31\n"
                    "Judged on the projected usage: WARNING above 80%, CRITICAL above 95% of the cap")


def test_a_courtesy_credit_is_named(monkeypatch, tmp_path, receiver):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"),
                                                     "--notify", url_of(receiver)],
                             reading(16, 700.0, courtesy_remaining=1))
    assert code == 0, err
    assert "Projected overage charge: $0, courtesy credit left: 1\n" in messages(receiver)[0][1]


def test_a_first_run_that_is_ok_sends_nothing(monkeypatch, tmp_path, receiver):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"), "--on", "used",
                                                     "--notify", url_of(receiver)], reading(16, 500.0))
    assert code == 0 and err == "" and receiver.requests == []


def test_the_loop_sends_once_per_change(monkeypatch, tmp_path, receiver):
    readings = iter([reading(9, 1000.0), reading(10, 1005.0), reading(11, 1010.0), reading(12, 1200.0)])
    fake_client(monkeypatch, lambda args, e: next(readings))
    args = build_parser().parse_args(["--interval", "60", "--history-db", str(tmp_path / "h.sqlite3"),
                                      "--on", "used", "--notify", url_of(receiver)])
    out, err = io.StringIO(), io.StringIO()
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run_loop(args, Environment(env, out, err), max_runs=4, wait=lambda seconds: False) == 0, err.getvalue()
    assert [m[0] for m in messages(receiver)] == ["Xfinity usage WARNING: 1000 of 1229 GB (81%)",
                                                  "Xfinity usage CRITICAL: 1200 of 1229 GB (98%)"]


def test_the_loop_takes_warn_and_crit_as_the_notification_thresholds(monkeypatch, tmp_path, receiver):
    readings = iter([reading(9, 600.0), reading(10, 700.0)])
    fake_client(monkeypatch, lambda args, e: next(readings))
    args = build_parser().parse_args(["--interval", "60", "--history-db", str(tmp_path / "h.sqlite3"), "--on", "used",
                                      "--warn", "50", "--crit", "90", "--notify", url_of(receiver)])
    out, err = io.StringIO(), io.StringIO()
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert run_loop(args, Environment(env, out, err), max_runs=2, wait=lambda seconds: False) == 0, err.getvalue()
    # 600 GB is 49 %: OK at --warn 50 (at the default 80 % it would be OK too); 700 GB is 57 %: WARNING
    assert [m[0] for m in messages(receiver)] == ["Xfinity usage WARNING: 700 of 1229 GB (57%)"]
    assert len(out.getvalue().splitlines()) == 2  # still the loop's one line per run


# ---------------------------------------------------------------- failures


def test_a_failed_message_is_sent_again_next_run_and_the_others_are_fed(monkeypatch, tmp_path, receiver):
    receiver.answers = [(200, {}), (500, {})]  # the webhook (fed first) takes it; the notification fails
    argv = ["-vv", "--history-db", str(tmp_path / "h.sqlite3"), "--on", "used", "--notify", url_of(receiver),
            "--webhook", receiver.url("/webhook")]
    code, out, err = run_cli(monkeypatch, tmp_path, argv, reading(10, 1010.0))
    assert code == ExitCode.NOTIFY == 16
    failure = [line for line in err.splitlines() if line.startswith("xfinity-usage: ")]
    assert len(failure) == 1 and failure[0].startswith(  # Apprise's own words follow (they vary by version)
        "xfinity-usage: notify: the WARNING message was not sent: cannot send to json://…: Failed to send JSON")
    assert failure[0].endswith("error=500")
    assert [r["path"] for r in receiver.requests] == ["/webhook", f"/hooks/{PATH_TOKEN}"]  # the webhook was fed
    code2, out2, err2 = run_cli(monkeypatch, tmp_path, argv, reading(11, 1020.0))  # the state was not recorded
    assert code2 == 0, err2
    assert [r["path"] for r in receiver.requests][2:] == ["/webhook", f"/hooks/{PATH_TOKEN}"]
    code3, out3, err3 = run_cli(monkeypatch, tmp_path, argv, reading(12, 1030.0))  # now told: once is enough
    assert code3 == 0 and [r["path"] for r in receiver.requests][4:] == ["/webhook"]
    assert receiver.json_bodies()[3]["title"] == "Xfinity usage WARNING: 1020 of 1229 GB (83%)"
    assert_no_secret(out, err, out2, err2, out3, err3)


def test_an_unreachable_service_is_one_line_and_exit_16(monkeypatch, tmp_path, receiver):
    url = f"json://notifier:{PASSWORD}@127.0.0.1:{closed_port()}/hooks/{PATH_TOKEN}"
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"), "--on", "used",
                                                     "--notify", url, "--webhook", receiver.url()],
                             reading(10, 1010.0))
    assert code == 16 and out == "Used 1010 of 1229 GB this month.\n"
    assert err.count("\n") == 1 and err.startswith("xfinity-usage: notify: the WARNING message was not sent: "
                                                   "cannot send to json://…: ")
    assert receiver.json_bodies()[0]["used"] == 1010.0
    assert_no_secret(out, err)


def test_notify_needs_the_history(monkeypatch, tmp_path, receiver):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--notify", url_of(receiver)], reading(10, 1010.0))
    assert code == ExitCode.CONFIGURATION and out == "" and receiver.requests == []
    assert err.startswith("xfinity-usage: configuration: --notify keeps the state it last told in the history")


def test_an_unknown_scheme_is_a_configuration_error_without_the_url(monkeypatch, tmp_path):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"),
                                                     "--notify", f"nosuch://user:{PASSWORD}@host/{PATH_TOKEN}"],
                             reading(10, 1010.0))
    assert code == 2 and err == ("xfinity-usage: configuration: nosuch://… is not a notification URL Apprise knows "
                                 "(see https://github.com/caronc/apprise/wiki)\n")


# ---------------------------------------------------------------- --notify-test and the URLs' sources


def test_notify_test_sends_one_test_message_and_nothing_else(monkeypatch, tmp_path, receiver):
    urls_file = tmp_path / "notify-urls"
    urls_file.write_text(f"# my phone\n{url_of(receiver)}\n")
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--notify-test"], reading(16, 1200.0),
                             env={"XFINITY_NOTIFY_URLS_FILE": str(urls_file)})
    assert code == 0 and err == ""
    [(title, body, kind)] = messages(receiver)  # the test, and not the CRITICAL state
    assert title == notify.TEST_TITLE and kind == "info"
    assert body.startswith("This is a test message from xfinity-usage")


def test_a_failing_notify_test_exits_16(monkeypatch, tmp_path):
    url = f"json://127.0.0.1:{closed_port()}/{PATH_TOKEN}"
    code, out, err = run_cli(monkeypatch, tmp_path, ["--no-history", "--notify-test", "--notify", url],
                             reading(16, 600.0))
    assert code == 16 and err.startswith("xfinity-usage: notify: the test message was not sent: cannot send to "
                                         "json://…: ") and err.count("\n") == 1
    assert_no_secret(out, err)


def test_urls_from_the_environment_with_a_bare_notify(monkeypatch, tmp_path, receiver):
    first, second = url_of(receiver, f"/one/{PATH_TOKEN}"), url_of(receiver, "/two/second-s3cr3t")
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"), "--on", "used",
                                                     "--notify"], reading(10, 1010.0),
                             env={"XFINITY_NOTIFY_URLS": f"{first}, {second}"})
    assert code == 0, err
    assert sorted(r["path"] for r in receiver.requests) == ["/one/" + PATH_TOKEN, "/two/second-s3cr3t"]


def test_no_url_at_all_is_a_configuration_error(monkeypatch, tmp_path):
    code, out, err = run_cli(monkeypatch, tmp_path, ["--history-db", str(tmp_path / "h.sqlite3"), "--notify"],
                             reading(10, 1010.0))
    assert code == 2 and "no notification URL: give --notify URL, or set XFINITY_NOTIFY_URLS" in err


def test_urls_are_split_on_whitespace_and_on_commas_before_a_scheme():
    env = {"XFINITY_NOTIFY_URLS": "ntfys://tk_abcdefgh@ntfy.sh/topic1,mailtos://u:p@example.org?to=a@x.org,b@y.org\n"
                                  "# a comment\n pover://user@token ntfys://tk_abcdefgh@ntfy.sh/topic1"}
    assert notify.urls_from(["json://h/x", None, ""], env) == [
        "json://h/x", "ntfys://tk_abcdefgh@ntfy.sh/topic1", "mailtos://u:p@example.org?to=a@x.org,b@y.org",
        "pover://user@token"]


@pytest.mark.parametrize("url, secrets, kept", [
    ("ntfys://tk_AbCdEfGh12345@ntfy.sh/my-alerts-topic", ["tk_AbCdEfGh12345", "my-alerts-topic"], "ntfy.sh"),
    ("ntfy://xfinity-usage-q7h2k9w4", ["xfinity-usage-q7h2k9w4"], None),
    ("ntfys://tk_AbCdEfGh12345@ntfy.example.org/xfinity", ["tk_AbCdEfGh12345"], "xfinity"),  # no token, the tool's name
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi",
     ["uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"], None),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654321",
     ["123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "987654321"], None),
    ("mailtos://me:app%2Dpass%2Dword@gmail.com?to=me%40example.org", ["app%2Dpass%2Dword", "app-pass-word",
                                                                      "me@example.org"], "gmail.com"),
])
def test_the_secret_parts_of_a_url(url, secrets, kept):
    parts = notify.secret_parts(url)
    assert url in parts and all(secret in parts for secret in secrets), parts
    assert kept is None or kept not in parts
    assert notify.shown(url) == url.split("://")[0] + "://…"


def test_runs_at_once_tell_a_change_once(tmp_path, receiver):
    """Two runs at the same time (a cron run and a loop) with the same history: the second waits
    for the first to tell the change, then sees it told. Without the lock both read "untold" while
    the slow service answers, and both send."""
    receiver.delay = 0.5
    history = str(tmp_path / "history.sqlite3")
    the_reading = reading(15, 1100)
    report = build_report([], the_reading, now=the_reading.data_timestamp, tz=UTC)
    sinks = [notify.NotifySink([url_of(receiver)], history_path=history, timeout=30) for _ in range(2)]
    errors = []

    def tell(sink):
        try:
            sink.publish(the_reading, report)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            sink.close()

    threads = [threading.Thread(target=tell, args=(sink,)) for sink in sinks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(receiver.requests) == 1
    assert messages(receiver)[0][0].startswith("Xfinity usage CRITICAL: 1100 of 1229 GB")
