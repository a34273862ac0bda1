"""The CLI as a well-mannered Unix tool: bad numbers, history first, offline reports,
Nagios states everywhere, a closed pipe, progress and plain messages (no browser)."""
import io
import json
import os
import subprocess
import sys
import time

import pytest

from .fakeclient import fake_client
from xfinity_usage import errors
from xfinity_usage.cli import main as cli, runs
from xfinity_usage.cli.main import Environment, main
from xfinity_usage.errors import ExitCode
from xfinity_usage.history.store import HistoryStore
from xfinity_usage.sources.usage import reading_from_dict

from .test_cli import month_json, run_cli


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def reading_at(ts, used, total=1229.0):
    day = time.localtime(ts)
    start = f"{day.tm_mon:02d}/01/{day.tm_year}"
    end = f"{day.tm_mon:02d}/28/{day.tm_year}"
    month = month_json(start, end, used, total if total is not None else 0)
    month["devices"] = None
    if total is None:
        month["policy"] = "unlimited"
    return reading_from_dict({"data_timestamp": int(ts), "units": "GB", "used": used, "total": total,
                              "raw": {"usageMonths": [month]}})


def never_fetch(args, env):
    raise AssertionError("this run must not sign in")


# ---------------------------------------------------------------- 3. bad numbers


@pytest.mark.parametrize("argv", [["--retries", "-1"], ["--retries", "x"], ["--timeout", "0"],
                                  ["--timeout", "-5"], ["--timeout", "inf"], ["-P", "0"], ["-P", "70000"]])
def test_bad_numbers_are_refused_at_parse_time(monkeypatch, argv):
    fake_client(monkeypatch, never_fetch)
    code, out, err = run_cli(argv, {"XFINITY_USER": "u", "XFINITY_PASSWORD": "p"})
    assert code == ExitCode.USAGE and out == ""
    assert "error: argument" in err and argv[0] in err


def test_zero_retries_is_allowed():
    assert cli.build_parser().parse_args(["--retries", "0"]).retries == 0


# ---------------------------------------------------------------- 4. history before sign-in


def test_history_is_checked_before_any_sign_in(monkeypatch, tmp_path):
    fake_client(monkeypatch, never_fetch)
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(str(locked), os.W_OK):  # root ignores the mode: use a path under a file instead
        blocker = tmp_path / "file"
        blocker.write_text("x")
        db = str(blocker / "history.sqlite3")
    else:
        db = str(locked / "history.sqlite3")
    code, out, err = run_cli(["--report", "--history-db", db], {"XFINITY_USER": "u", "XFINITY_PASSWORD": "p"})
    assert code == ExitCode.HISTORY == 12
    assert err.startswith("xfinity-usage: history: cannot open the history database")
    assert err.count("\n") == 1


def test_broken_history_without_report_warns_and_reads(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fake_client(monkeypatch, lambda args, env: reading_at(time.time(), 10.0))
    code, out, err = run_cli(["--history-db", str(blocker / "h.sqlite3")])
    assert code == 0 and out == "Used 10 of 1229 GB this month.\n"
    assert err.startswith("xfinity-usage: warning: history not recorded: ")


# ---------------------------------------------------------------- 5. offline


def stored_history(tmp_path, readings):
    path = str(tmp_path / "h.sqlite3")
    with HistoryStore(path) as store:
        for r in readings:
            store.record(r)
    return path


def test_offline_report_needs_no_credentials_and_says_its_age(monkeypatch, tmp_path):
    fake_client(monkeypatch, never_fetch)
    now = time.time()
    db = stored_history(tmp_path, [reading_at(now - 4 * 3600, 100.0), reading_at(now - 3 * 3600 - 60, 110.0)])
    code, out, err = run_cli(["--report", "--offline", "--history-db", db], {})
    assert code == 0 and err == ""
    assert "offline: from the history alone; the newest reading is 3 hours old" in " ".join(out.split())
    assert "110 of 1229 GB" in out


def test_offline_check_and_json(monkeypatch, tmp_path):
    fake_client(monkeypatch, never_fetch)
    db = stored_history(tmp_path, [reading_at(time.time() - 60, 1200.0)])
    code, out, _ = run_cli(["--offline", "--warn", "80", "--crit", "99", "--on", "used", "--history-db", db, "-j"])
    document = json.loads(out)
    assert code == 1 and document["state"] == "WARNING" and document["exit_code"] == 1
    assert document["reading"] is None and document["report"]["used"] == 1200.0


def test_offline_needs_a_report_or_a_check(monkeypatch, tmp_path):
    fake_client(monkeypatch, never_fetch)
    code, _, err = run_cli(["--offline", "--history-db", str(tmp_path / "h.sqlite3")])
    assert code == ExitCode.USAGE and "--offline needs --report or --warn/--crit" in err


def test_offline_with_an_empty_history(monkeypatch, tmp_path):
    fake_client(monkeypatch, never_fetch)
    code, out, _ = run_cli(["--offline", "--report", "--history-db", str(tmp_path / "new.sqlite3")])
    assert code == 0 and "no readings yet" in out


# ---------------------------------------------------------------- 6. Nagios everywhere


def test_check_mode_parse_error_is_unknown(monkeypatch):
    fake_client(monkeypatch, never_fetch)
    code, out, err = run_cli(["--warn", "lots"])
    assert code == 3 and out.startswith("XFINITY USAGE UNKNOWN - ") and "--warn" in err


def test_check_mode_json_is_one_document(monkeypatch, mid_cycle):
    # 100 GB 13 days 13 hours into a cycle ending on the 28th (1 November 2026 has 25 hours in New
    # York) projects to 207 GB: OK. (Read half an hour into a cycle, the same figure would project
    # far past the cap: so the clock stands mid-cycle.)
    fake_client(monkeypatch, lambda args, env: reading_at(time.time(), 100.0))
    code, out, _ = run_cli(["--no-history", "--warn", "80", "--crit", "90", "-j"])
    document = json.loads(out)
    assert code == 0 and document["state"] == "OK" and document["reading"]["used"] == 100.0
    elapsed = (13 * 24 + 13) / 24
    assert document["report"]["days_elapsed"] == round(elapsed, 2) == 13.54
    assert document["report"]["projected"] == pytest.approx(100 + 100 / elapsed * 14.5, abs=0.001)
    assert document["status"].startswith("XFINITY USAGE OK - ")


def test_unlimited_plan_is_ok_with_a_note(monkeypatch):
    fake_client(monkeypatch, lambda args, env: reading_at(time.time(), 100.0, total=None))
    code, out, _ = run_cli(["--no-history", "--warn", "80", "--crit", "90"])
    assert code == 0 and out.startswith("XFINITY USAGE OK - unlimited plan")


def test_help_explains_the_check_exit_codes():
    out = io.StringIO()
    assert main(["-h"], Environment({}, out, io.StringIO())) == 0
    assert "3   UNKNOWN" in out.getvalue() and "2   CRITICAL" in out.getvalue()


# ---------------------------------------------------------------- 8. closed pipe


def test_closed_pipe_is_quiet(tmp_path):
    db = stored_history(tmp_path, [reading_at(time.time() - 60, 100.0)])
    script = "from xfinity_usage.cli.main import console_main; console_main()"
    command = f"{sys.executable} -c '{script}' --offline --report -j --history-db {db} | (exec 0<&-; sleep 1)"
    done = subprocess.run(["bash", "-c", "set -o pipefail; " + command], capture_output=True, text=True)
    assert done.stderr == ""
    assert done.returncode in (0, 141)  # 141: the reader left before we wrote


def test_broken_pipe_gives_the_closed_pipe_code(monkeypatch):
    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    fake_client(monkeypatch, lambda args, env: reading_at(time.time(), 1.0))
    err = io.StringIO()
    code = main(["--no-history", "-j"], Environment({}, Closed(), err))
    assert code == ExitCode.CLOSED_PIPE == 141 and err.getvalue() == ""


# ---------------------------------------------------------------- 9. progress and plain logs


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_on_a_terminal_only(monkeypatch):
    import logging

    def fetch(args, env):
        logging.getLogger("xfinity_usage.sources").info("signing in", extra={"progress": True})
        logging.getLogger("xfinity_usage.sources").info("not progress")
        return reading_at(time.time(), 5.0)

    fake_client(monkeypatch, fetch)
    err = Tty()
    assert main(["--no-history"], Environment({}, io.StringIO(), err)) == 0
    assert err.getvalue() == "\r\033[Ksigning in\u2026\r\033[K"
    plain = io.StringIO()
    assert main(["--no-history"], Environment({}, io.StringIO(), plain)) == 0
    assert plain.getvalue() == ""


def test_verbose_lines_are_sentences_and_warnings_have_the_tools_style(monkeypatch):
    import logging

    def fetch(args, env):
        logging.getLogger("xfinity_usage.client").info("usage read by the session source")
        logging.getLogger("xfinity_usage.client").warning("could not save cookies")
        return reading_at(time.time(), 5.0)

    fake_client(monkeypatch, fetch)
    _, _, err = run_cli(["--no-history", "-v"])
    assert err == "usage read by the session source\nxfinity-usage: warning: could not save cookies\n"


def test_a_fresh_history_does_not_announce_migrations(monkeypatch, tmp_path):
    fake_client(monkeypatch, lambda args, env: reading_at(time.time(), 5.0))
    _, _, err = run_cli(["-v", "--history-db", str(tmp_path / "fresh.sqlite3")])
    assert "migrating" not in err


# ---------------------------------------------------------------- 10. messages


def test_wrong_password_names_the_password_file(monkeypatch, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hunter22\n")

    def fail(args, env):
        raise errors.BadCredentialsError("Xfinity rejected the Xfinity ID or password")

    fake_client(monkeypatch, fail)
    code, _, err = run_cli(["--no-history"], {"XFINITY_USER": "u", "XFINITY_PASSWORD_FILE": str(secret)})
    assert code == ExitCode.BAD_CREDENTIALS
    assert f"check XFINITY_USER and the file in XFINITY_PASSWORD_FILE ({secret})" in err
    assert "XFINITY_PASSWORD and" not in err and "XFINITY_PASSWORD\n" not in err


def test_a_short_password_does_not_mangle_logs(monkeypatch):
    import logging

    def fetch(args, env):
        logging.getLogger("xfinity_usage.client").info("xfinity_usage.client typed x into the form")
        return reading_at(time.time(), 5.0)

    fake_client(monkeypatch, fetch)
    _, _, err = run_cli(["--no-history", "-v"], {"XFINITY_USER": "u", "XFINITY_PASSWORD": "x"})
    assert "xfinity_usage.client typed ******** into the form" in err


# ---------------------------------------------------------------- the tool matches its docs


def test_help_lines_are_short_and_name_the_default_browser_first():
    out = io.StringIO()
    main(["-h"], Environment({}, out, io.StringIO()))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    browser_help = text[text.index("-b BROWSER, --browser BROWSER"):]
    assert browser_help.split()[4] == "firefox-headless"


def test_exit_code_2_has_one_name():
    out = io.StringIO()
    main(["-h"], Environment({}, out, io.StringIO()))
    assert "2   configuration" in out.getvalue() and "usage" not in out.getvalue().split("exit codes:")[1]
    assert ExitCode.USAGE is ExitCode.CONFIGURATION
    assert errors.ConfigError.label == "configuration"


def test_site_urls_takes_the_line_the_simulator_prints(tmp_path, monkeypatch):
    line = {"scenario": "normal", "urls": {"HOME_URL": "http://127.0.0.1:1/"}, "username": "u", "password": "p"}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(line))
    assert runs.site_urls(str(path)) == {"HOME_URL": "http://127.0.0.1:1/"}


def test_simulator_help_lists_scenarios_and_a_busy_port_is_one_line():
    import socket

    from xfinity_usage.simulator import SCENARIOS

    done = subprocess.run([sys.executable, "-m", "xfinity_usage.simulator", "-h"], capture_output=True, text=True)
    assert all(name in done.stdout for name in SCENARIOS)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "xfinity_usage.simulator", "--port-customer", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_docs_say_how_to_install_this_version_and_where_debug_files_go():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    usage = open(os.path.join(root, "docs", "usage.rst"), encoding="utf-8").read()
    assert "would install the old 3.x" in usage and "--debug-dir" in usage and "$HOME" in usage
    readme = open(os.path.join(root, "README.rst"), encoding="utf-8").read()
    using = readme[readme.index("Using it"):readme.index("History, projection")]
    assert "[drivers]" in using and "firefox-esr" in using
