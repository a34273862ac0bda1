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

from xfinity_usage.browsers import BROWSERS

from .proctools import MARKER_ENV

#: Browsers that open a window and so need an X display.
WINDOWED = ("firefox", "chrome")


@pytest.fixture(scope="session", autouse=True)
def browser_process_marker():
    """Tag this run's browser processes (inherited environment) so parallel runs don't count."""
    patch = pytest.MonkeyPatch()
    marker = uuid.uuid4().hex
    patch.setenv(MARKER_ENV, marker)
    yield marker
    patch.undo()


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
