"""No secret reaches a child process, and a crashed browser leaves no dump with the password (issue 14)."""
import contextlib
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid

import pytest

from xfinity_usage import browsers
from xfinity_usage.browsers import procs
from xfinity_usage.client import XfinityUsage
from xfinity_usage.errors import BrowserError, XfinityUsageError
from xfinity_usage.browsers.phantomjs import PhantomJSService
from xfinity_usage.secrets import SECRET_ENV_VARS, child_environment
from xfinity_usage.simulator import Fault

from .fixtures_browsers import ENGINES, share_warm_start
from .proctools import MARKER_ENV, assert_no_new_browser_processes, describe, run_processes


def _secrets(monkeypatch) -> dict:
    """Every secret variable set to a distinctive random value in os.environ."""
    values = {name: f"xu-{name.lower()}-{uuid.uuid4().hex}" for name in SECRET_ENV_VARS}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _leaks(environ: bytes, secrets: dict) -> list:
    """Secret names or values in a NUL-separated environment block."""
    found = []
    entries = environ.split(b"\0")
    for name, value in secrets.items():
        if any(entry.startswith(name.encode() + b"=") for entry in entries):
            found.append(f"variable {name}")
        if value.encode() in environ:
            found.append(f"value of {name}")
    return found


# --- no browser ----------------------------------------------------------------------------------

def test_child_environment_drops_every_secret():
    base = {name: "s3cret" for name in SECRET_ENV_VARS}
    base.update({"PATH": "/usr/bin", "XFINITY_USER": "me@example.com", "DISPLAY": ":7"})
    frozen = dict(base)
    env = child_environment(base, TMPDIR="/private/tmp", XFINITY_PASSWORD="again")
    assert env == {"PATH": "/usr/bin", "XFINITY_USER": "me@example.com", "DISPLAY": ":7", "TMPDIR": "/private/tmp"}
    assert base == frozen  # the base is only read
    assert child_environment({}) == {}


def test_secret_env_vars_listed_with_file_forms():
    assert len(set(SECRET_ENV_VARS)) == len(SECRET_ENV_VARS) == 12
    for name in ("XFINITY_PASSWORD", "XFINITY_CLIENT_SECRET", "XFINITY_REFRESH_TOKEN", "MQTT_PASSWORD", "WEBHOOK_TOKEN"):
        assert name in SECRET_ENV_VARS and f"{name}_FILE" in SECRET_ENV_VARS


def test_environment_of_a_run_is_clean_and_os_environ_untouched(monkeypatch):
    secrets = _secrets(monkeypatch)
    before = dict(os.environ)
    run = browsers._Run("firefox-headless")
    try:
        env = run.environment(MOZ_CRASHREPORTER_DISABLE="1")
    finally:
        run.close()
    assert not set(SECRET_ENV_VARS) & set(env)
    assert env["TMPDIR"] == run.temp and env["MOZ_CRASHREPORTER_DISABLE"] == "1"
    assert env["PATH"] == os.environ["PATH"]
    assert dict(os.environ) == before
    assert all(os.environ[name] == value for name, value in secrets.items())


def test_phantomjs_service_cleans_the_env_it_is_given(tmp_path):
    given = {"PATH": "/usr/bin", "XFINITY_PASSWORD": "s3cret", "MQTT_PASSWORD_FILE": "/run/secrets/mqtt"}
    service = PhantomJSService("/bin/true", profile_dir=str(tmp_path), env=given)
    assert service.env["PATH"] == "/usr/bin"
    assert not set(SECRET_ENV_VARS) & set(service.env)
    assert given["XFINITY_PASSWORD"] == "s3cret"


def test_chrome_version_probe_gets_no_secret(tmp_path, monkeypatch):
    """``chromium --version`` (run for the headless user agent) is a child process too."""
    secrets = _secrets(monkeypatch)
    dump = tmp_path / "environ"
    fake = tmp_path / "chromium"
    fake.write_text(f"#!/bin/sh\ncat /proc/$$/environ > '{dump}'\necho 'Chromium 156.0.8078.108 built on Debian'\n")
    fake.chmod(0o755)
    agent = browsers._chrome_user_agent(str(fake))
    assert agent is not None and "Chrome/156.0.0.0" in agent
    environ = dump.read_bytes()
    assert MARKER_ENV.encode() + b"=" in environ  # the rest of the environment is passed on
    assert _leaks(environ, secrets) == []


# --- every browser, for real -----------------------------------------------------------------------

def _run_dir(driver, name: str) -> str:
    if name.startswith("chrome"):
        return os.path.dirname(driver.capabilities["chrome"]["userDataDir"])
    if name.startswith("firefox"):
        return os.path.dirname(driver.capabilities["moz:profile"])
    return os.path.dirname(driver.service.profile_dir)


@pytest.mark.e2e
@pytest.mark.parametrize("browser_name", ENGINES)  # a windowed browser inherits the same environment
def test_no_secret_in_any_driver_or_browser_environment(browser_name, site, isolated, monkeypatch):
    secrets = _secrets(monkeypatch)
    canary = f"user-{uuid.uuid4().hex}@example.com"
    monkeypatch.setenv("XFINITY_USER", canary)  # not a secret: it must still be passed on
    before = dict(os.environ)
    checked = {}
    with assert_no_new_browser_processes():
        with browsers.open_browser(browser_name) as driver:
            driver.get(site.urls["HOME_URL"])
            assert driver.current_url.startswith(site.home_origin) or driver.current_url.startswith(site.login_origin)
            driver_pid = driver.service.process.pid
            pids = run_processes(driver_pid, _run_dir(driver, browser_name))
            for pid in sorted(pids):
                environ = procs.environ(pid, timeout=5.0)  # empty for a moment after exec
                if environ is None:
                    continue  # exited meanwhile
                assert environ, f"/proc/{pid}/environ stayed empty ({describe([pid])})"
                checked[pid] = environ
            assert driver_pid in checked
            assert f"XFINITY_USER={canary}".encode() in checked[driver_pid]
    assert dict(os.environ) == before
    least = 1 if browser_name == "phantomjs" else 2  # PhantomJS is its own driver
    assert len(checked) >= least, f"only {len(checked)} process(es) of {browser_name} found"
    leaks = {pid: found for pid, environ in checked.items() if (found := _leaks(environ, secrets))}
    assert leaks == {}, f"secrets in the environment of {describe(leaks)}: {leaks}"


# --- a browser crashes mid-run -----------------------------------------------------------------------

def _files_holding(roots, needles) -> list:
    hits = []
    for root in roots:
        for directory, _, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                try:
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                if any(needle in data for needle in needles):
                    hits.append(path)
    return hits


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while (st := procs.stat(pid)) is not None and not st.dead:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["chrome-headless", "firefox-headless"])
def test_crash_during_sign_in_leaves_no_password(name, make_site, tmp_path, monkeypatch):
    """SIGSEGV to the browser while the password POST is in flight: browser error, no dump, nothing left."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="xu-", dir="/tmp"))  # short: Chrome's socket lives there
    try:
        monkeypatch.setenv("HOME", str(home))
        for name_ in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "CHROME_CONFIG_HOME"):
            monkeypatch.delenv(name_, raising=False)
        share_warm_start(home / ".cache")
        monkeypatch.setenv("TMPDIR", str(tmp))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp))
        monkeypatch.chdir(cwd)
        password = f"pw-{uuid.uuid4().hex}"
        monkeypatch.setenv("XFINITY_PASSWORD", password)
        # Both POSTs to /login (username, then password) are held 2 s: time to crash the browser
        # while the password sits in its memory, typed into the form and in the request.
        site = make_site(password=password, slow_seconds=2.0,
                         faults=[Fault("/login", "slow", count=2, host="login", method="POST")])

        drivers = []
        real_open = browsers.open_browser

        @contextlib.contextmanager
        def recording_open(*args, **kwargs):
            with real_open(*args, **kwargs) as driver:
                drivers.append(driver)
                yield driver

        monkeypatch.setattr(browsers, "open_browser", recording_open)
        crashed = []

        def crash_when_password_posted() -> None:
            deadline = time.monotonic() + 120
            while site.password_submissions == 0 or not drivers:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)
            driver_pid = drivers[0].service.process.pid
            family = "chromium" if name.startswith("chrome") else "firefox"
            for pid in sorted(run_processes(driver_pid, _run_dir(drivers[0], name))):
                st = procs.stat(pid)
                if st and st.ppid == driver_pid and os.path.basename(procs.cmdline(pid)[0]).decode().startswith(
                        family):
                    os.kill(pid, signal.SIGSEGV)
                    crashed.append((pid, _wait_gone(pid, 30)))
                    return

        client = XfinityUsage(site.username, password, browser_name=name, urls=site.urls, reuse_session=False,
                              cookie_file=str(home / "cookies.json"), timeout=90, retries=0)
        watcher = threading.Thread(target=crash_when_password_posted, daemon=True)
        with assert_no_new_browser_processes():
            watcher.start()
            started = time.monotonic()
            with pytest.raises(XfinityUsageError) as info:
                client.run()
            watcher.join(10)
        sys.stderr.write(f"{name} after the crash: {type(info.value).__name__}: {info.value} "
                         f"(exit code {int(info.value.exit_code)}, {time.monotonic() - started:.1f} s)\n")
        assert crashed and crashed[0][1], f"the {name} browser process was not crashed: {crashed}"
        assert site.password_submissions == 1
        # The dead browser is reported as such (exit 8), not taken for an error page of the site.
        assert isinstance(info.value, BrowserError) and info.value.exit_code == 8, repr(info.value)
        assert password not in str(info.value)
        needles = [password.encode("utf-8"), password.encode("utf-16-le")]
        assert _files_holding([home, tmp, cwd], needles) == []
        dumps = [str(p) for root in (home, tmp, cwd) for p in root.rglob("*") if p.suffix in (".dmp", ".extra")]
        assert dumps == []
        assert os.listdir(tmp) == [], "the run's private directory was not removed"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
