"""Fixtures: an Xvfb display, the browser names, a tag on the browser processes of this run,
and an isolated cwd and TMPDIR to see what a browser run leaves behind."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

import pytest
from selenium.webdriver.common.selenium_manager import SeleniumManager

from xfinity_usage.browsers import warmstart
from xfinity_usage.browsers import BROWSERS

from .proctools import MARKER_ENV

#: Browsers that open a window and so need an X display.
WINDOWED = ("firefox", "chrome")
#: One browser per engine: a windowed browser runs the same engine, network stack and driver as its
#: headless twin, so tests of what a page, a network error or a signal does run in these three.
#: The windowed ones run where the window matters (tests/test_browsers.py's clean start), in the
#: WebDriver calls and certificate checks of each browser, the scenario matrix of
#: tests/test_e2e_flow.py and the app's sign-in (tests/test_e2e_app.py).
ENGINES = ("chrome-headless", "firefox-headless", "phantomjs")


@pytest.fixture(scope="session", autouse=True)
def browser_process_marker():
    """Tag this run's browser processes (inherited environment) so parallel runs don't count."""
    patch = pytest.MonkeyPatch()
    marker = uuid.uuid4().hex
    patch.setenv(MARKER_ENV, marker)
    yield marker
    patch.undo()


_shared_cache: list = []  # the run's XDG cache directory, once xdg_cache has made it


@pytest.fixture(scope="session", autouse=True)
def xdg_cache(tmp_path_factory):
    """The run's XDG cache directory, shared by the xdist workers (``XDG_CACHE_HOME`` for the session).

    Nothing of this machine's own cache is used, so a run on it costs what a run on a fresh
    machine costs: the first Firefox start makes the warm-start template
    (:mod:`xfinity_usage.browsers.warmstart`), and every later start of either worker uses it.
    """
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xdg-cache"
    shared.mkdir(exist_ok=True)
    _shared_cache.append(shared)
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(shared))
    yield shared
    patch.undo()


def share_warm_start(cache_home: pathlib.Path) -> str:
    """Let a test's own XDG cache directory use the run's Firefox warm-start templates; returns it as str."""
    (cache_home / "xfinity-usage").mkdir(parents=True, exist_ok=True)
    shared = _shared_cache[-1] / "xfinity-usage" / warmstart.FIREFOX_DIR
    shared.mkdir(parents=True, exist_ok=True)
    link = cache_home / "xfinity-usage" / warmstart.FIREFOX_DIR
    if not link.exists():
        link.symlink_to(shared, target_is_directory=True)
    return str(cache_home)


@pytest.fixture(scope="session")
def xvfb():
    """Start Xvfb on a free display and set DISPLAY for the session; stop it at the end."""
    executable = shutil.which("Xvfb")
    if executable is None:
        pytest.fail("Xvfb not found: install Debian's xvfb")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [executable, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            number = pipe.readline().strip()  # Xvfb writes the display number once it is ready
        if not number.isdigit():
            pytest.fail(f"Xvfb did not start (exit code {process.poll()})")
        display = f":{number.decode()}"
        patch = pytest.MonkeyPatch()
        patch.setenv("DISPLAY", display)
        try:
            yield display
        finally:
            patch.undo()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=BROWSERS)
def browser_name(request):
    """Each of the five browsers; the windowed ones get the Xvfb display."""
    if request.param in WINDOWED:
        request.getfixturevalue("xvfb")
    return request.param


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Run in an empty cwd with a private TMPDIR and no Selenium Manager; yields ``(cwd, tmp)``.

    The TMPDIR is short: Chrome puts its singleton socket there and a Unix
    socket path may not exceed 108 bytes.
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="xu-", dir="/tmp"))
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))

    def no_download(*args, **kwargs):
        raise AssertionError("Selenium Manager must never run")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_download)
    yield cwd, tmp
    shutil.rmtree(tmp, ignore_errors=True)
