"""The commands end to end: demo, Graphite push, secrets, and shutdown on a signal.

A real browser runs where it is the subject: the demo in each browser (the
default one without ``-b``), a ``-j -g`` run (3.0.4's interface), the saved
session of a browser sign-in, the password through a browser. The other
tests (Graphite's entry point, exit code, extra metrics, a signal while the
saved session reads) read the usage with a saved session and no browser: a
fresh browser costs seconds of CPU and says nothing about Graphite. A signal
in the middle of a browser's sign-in: tests/test_stop_and_start.py.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote, urlsplit

import pytest

from xfinity_usage.options import DEFAULT_BROWSER
from xfinity_usage.sources.pages import origin
from xfinity_usage.sources.session import save_cookies
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME, Fault

from .fixtures_browsers import ENGINES, share_warm_start
from .proctools import MARKER_ENV, assert_no_new_browser_processes
from .proctools import browser_processes as _all_browser_processes


def browser_processes():
    """This test run's browser processes (other runs on the machine may be going on)."""
    return _all_browser_processes(os.environ.get(MARKER_ENV))

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "xfinity_usage"]


@pytest.fixture
def cli_env(tmp_path):
    """Environment of a CLI run: demo credentials, private XDG dirs."""
    env = dict(os.environ, XFINITY_USER=DEMO_USERNAME, XFINITY_PASSWORD=DEMO_PASSWORD,
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=share_warm_start(tmp_path / "cache"))
    return env


def urls_file(site, tmp_path):
    path = tmp_path / "urls.json"
    path.write_text(json.dumps(site.urls))
    return str(path)


def saved_session(site, tmp_path):
    """A cookie file with a live session of ``site``, as a browser sign-in saves it, made without a browser.

    A run given it (``-c``) reads the usage JSON with it over HTTP (the
    saved-session path) and starts no browser: ``site.password_submissions``
    stays 0, which the tests check, since any browser run signs in.
    """
    session = site.state.new_customer_session()
    host = urlsplit(site.urls["HOME_URL"]).hostname
    cookies = [{"name": "s_sess", "value": session.token, "domain": host, "path": "/", "httpOnly": True},
               {"name": "XSRF-TOKEN", "value": quote(session.xsrf, safe=""), "domain": host, "path": "/",
                "httpOnly": False}]
    path = tmp_path / "saved-cookies.json"
    save_cookies(str(path), cookies, origin(site.urls["HOME_URL"]))
    return str(path)


@pytest.mark.parametrize("browser_name", ENGINES)
def test_demo_in_each_browser(browser_name, cli_env, tmp_path):
    """The demo in each engine, leaving nothing behind; the default one (firefox-headless) without ``-b``.
    (A windowed browser's start: test_browsers.py; its sign-ins: test_e2e_flow.py's matrix.)"""
    default = browser_name == DEFAULT_BROWSER
    args = ["--demo", "-v"] if default else ["--demo", "-b", browser_name]
    with assert_no_new_browser_processes():
        proc = subprocess.run(CLI + args, env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Used 424 of 1229 GB this month.\n"
    assert os.listdir(tmp_path) == [] or set(os.listdir(tmp_path)) <= {"data", "cache"}  # no log files left
    if default:
        assert "starting firefox-headless\n" in proc.stderr


def test_json_and_graphite_push_to_real_carbon(site, carbon, cli_env, tmp_path):
    # The subject is the push, not the browser: PhantomJS, the cheapest to start (about 1 CPU-s).
    cmd = CLI + ["-j", "-g", "-b", "phantomjs", "--site-urls", urls_file(site, tmp_path),
                 "-H", carbon.host, "-P", str(carbon.port), "-p", "e2ecli"]
    proc = subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    reading = json.loads(proc.stdout)
    assert (reading["used"], reading["total"], reading["units"]) == (424.0, 1229.0, "GB")
    used = carbon.read("e2ecli.used_gb")
    total = carbon.read("e2ecli.total_gb")
    assert (reading["data_timestamp"], 424.0) in used
    assert (reading["data_timestamp"], 1229.0) in total


def test_graphite_entry_point(site, carbon, cli_env, tmp_path):
    """``xfinity-usage-graphite`` pushes without -g. The subject is the entry point, not the browser
    (test_json_and_graphite_push_to_real_carbon pushes a browser's reading): a saved session reads."""
    exe = os.path.join(os.path.dirname(sys.executable), "xfinity-usage-graphite")
    cmd = ([exe] if os.path.exists(exe) else [sys.executable, "-c",
                                              "from xfinity_usage.cli.main import console_main_graphite as m; m()"])
    proc = subprocess.run(cmd + ["-b", "chrome-headless", "--site-urls", urls_file(site, tmp_path),
                                 "-c", saved_session(site, tmp_path),
                                 "-H", carbon.host, "-P", str(carbon.port), "-p", "e2egraphite"],
                          env=cli_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert carbon.read("e2egraphite.used_gb")
    assert site.password_submissions == 0  # read with the saved session: no browser signed in


def test_graphite_down_is_its_own_exit_code(site, cli_env, tmp_path):
    """The reading is printed, then Graphite's failure is one line and exit code 9. The push comes
    after the reading whatever read it, so a saved session reads (no browser)."""
    proc = subprocess.run(CLI + ["-g", "-b", "chrome-headless", "--site-urls", urls_file(site, tmp_path),
                                 "-c", saved_session(site, tmp_path), "-P", "1"],
                          env=cli_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 9
    assert proc.stdout == "Used 424 of 1229 GB this month.\n"
    assert len(proc.stderr.strip().splitlines()) == 1 and "graphite" in proc.stderr
    assert site.password_submissions == 0  # read with the saved session: no browser signed in


def test_second_run_uses_saved_session_without_browser(site, cli_env, tmp_path):
    cmd = CLI + ["-b", "phantomjs", "--site-urls", urls_file(site, tmp_path), "-v"]  # any browser signs in first
    first = subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    before = browser_processes()
    seen = set()
    proc = subprocess.Popen(cmd, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        seen |= browser_processes() - before
    out, err = proc.communicate()
    assert proc.returncode == 0 and out == first.stdout
    assert not seen, "the warm run started a browser"
    assert "saved session" in err
    assert site.password_submissions == 1


def test_password_never_leaks(make_site, cli_env, tmp_path):
    """-vv and --debug-dir through a failing login: the password is in no output, file or argv."""
    password = "Leak-Canary-5f3a9c"
    site = make_site(password=password + "-but-not-this")  # so the login fails after typing it
    env = dict(cli_env, XFINITY_PASSWORD=password)
    debug = tmp_path / "debug"
    argv_hits = []
    stop = threading.Event()

    def watch_argv():
        while not stop.is_set():
            for pid in os.listdir("/proc"):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        if password.encode() in handle.read():
                            argv_hits.append(pid)
                except OSError:
                    pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_argv)
    watcher.start()
    try:
        proc = subprocess.run(CLI + ["-vv", "--debug-dir", str(debug), "-b", "chrome-headless",
                                     "--site-urls", urls_file(site, tmp_path)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    finally:
        stop.set()
        watcher.join()
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert site.password_submissions == 1
    assert password not in proc.stdout and password not in proc.stderr
    assert "DEBUG" in proc.stderr  # the -vv log really was written
    assert not argv_hits
    files = [os.path.join(root, f) for root, _, names in os.walk(tmp_path) for f in names]
    assert any(f.endswith(".html") for f in files) and any(f.endswith(".png") for f in files)
    for path in files:
        with open(path, "rb") as handle:
            assert password.encode() not in handle.read(), path
        if path.startswith(str(debug)):
            assert os.stat(path).st_mode & 0o077 == 0, path
    html = next(f for f in files if f.endswith(".html"))
    assert DEMO_USERNAME not in open(html).read()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_the_saved_session_reads(make_site, cli_env, tmp_path, sig):
    """SIGTERM or SIGINT while the saved session's request waits for the site (no browser): exit 130 with
    one line. (In the middle of a browser's sign-in, in every browser: tests/test_stop_and_start.py.)"""
    site = make_site(faults=[Fault("/apis/csp/account/me/services/internet/usage", "slow", count=100)],
                     slow_seconds=30)
    before = browser_processes()
    proc = subprocess.Popen(CLI + ["--site-urls", urls_file(site, tmp_path), "-c", saved_session(site, tmp_path)],
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(r[2].startswith("/apis/") for r in site.requests) and proc.poll() is None:
            assert time.monotonic() < deadline, "the saved session never asked for the usage"
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert (out, err) == ("", "xfinity-usage: interrupted\n")
    assert site.password_submissions == 0 and browser_processes() == before


def test_graphite_extra_sends_projection_and_devices(site, carbon, cli_env, tmp_path):
    """The projection and the site's per-device usage go to Graphite. They come from the usage JSON,
    which the saved session reads as the browser does (no browser); the app route has no devices."""
    proc = subprocess.run(CLI + ["-g", "--graphite-extra", "-b", "chrome-headless", "--site-urls",
                                 urls_file(site, tmp_path), "-c", saved_session(site, tmp_path),
                                 "-H", carbon.host, "-P", str(carbon.port),
                                 "-p", "e2eextra"], env=cli_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert site.password_submissions == 0  # read with the saved session: no browser signed in
    assert carbon.read("e2eextra.projected_gb")[0][1] >= 424.0
    current = site.usage_json()["usageMonths"][-1]
    assert current["devices"]
    for device in current["devices"]:
        name = "e2eextra.device." + device["id"].replace(":", "_") + "_gb"
        assert carbon.read(name)[0][1] == device["usage"]
