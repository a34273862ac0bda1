"""Browser and driver processes, read from /proc (:mod:`xfinity_usage.browsers.procs`), to prove none is left behind.

Several test runs (and pytest-xdist workers) may share the machine, so a run
tags the processes it starts: when ``XFINITY_USAGE_TEST_RUN`` is set (the
``browser_process_marker`` fixture sets it), only processes that inherited
the same value count as new.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from typing import Iterable, Iterator, Optional

from xfinity_usage.browsers import procs

MARKER_ENV = "XFINITY_USAGE_TEST_RUN"

#: comm or executable names of browsers, their helpers and WebDrivers.
BROWSER_NAME = re.compile(r"^(chromium|chrome|chromedriver|firefox|firefox-esr|firefox-bin|geckodriver|"
                          r"phantomjs|crashhelper)")

#: How long a process's environment may stay empty after exec before we take it as empty.
ENVIRON_TIMEOUT = 2.0


def marker_of(pid: int) -> Optional[str]:
    """The ``XFINITY_USAGE_TEST_RUN`` value ``pid`` inherited, if any.

    Right after exec the environment reads empty for a moment: wait (up to
    :data:`ENVIRON_TIMEOUT`) until it is filled in.
    """
    environ = procs.environ(pid, timeout=ENVIRON_TIMEOUT) or b""
    prefix = MARKER_ENV.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def is_browser_process(pid: int) -> bool:
    """True if ``pid`` is alive (not a zombie) and is a browser, helper or driver."""
    st = procs.stat(pid)
    if st is None or st.dead:
        return False
    return any(BROWSER_NAME.match(name) for name in procs.names(pid))


def browser_processes(marker: Optional[str] = None) -> set:
    """Live pids of chromium/chrome/chromedriver/firefox/geckodriver/phantomjs processes.

    With ``marker``, only those whose environment has ``XFINITY_USAGE_TEST_RUN=marker``.
    """
    found = set()
    for pid in procs.all_pids():
        if pid == os.getpid() or not is_browser_process(pid):
            continue
        if marker is not None and marker_of(pid) != marker:
            continue
        found.add(pid)
    return found


def describe(pids: Iterable[int]) -> str:
    """``pid command line`` of each process, for assertion messages."""
    parts = []
    for pid in sorted(pids):
        cmdline = b" ".join(procs.cmdline(pid)).decode(errors="replace").strip()
        parts.append(f"{pid} {cmdline[:120] or '?'}")
    return "; ".join(parts)


def run_processes(driver_pid: int, run_dir: str) -> set:
    """The driver and every live process it started: descendants, its session, helpers naming ``run_dir``."""
    tree = procs.ProcessTree(driver_pid, run_dir)
    return set(tree.alive())


def new_browser_processes(before: set, timeout: float = 10.0, marker: Optional[str] = None) -> set:
    """Browser processes not in ``before`` still alive after waiting up to ``timeout`` for them to exit."""
    if marker is None:
        marker = os.environ.get(MARKER_ENV)
    deadline = time.monotonic() + timeout
    while True:
        new = browser_processes(marker) - before
        if not new or time.monotonic() >= deadline:
            return new
        time.sleep(0.1)


@contextlib.contextmanager
def assert_no_new_browser_processes(timeout: float = 10.0) -> Iterator[None]:
    """Fail if the block leaves a browser or driver process running (after ``timeout`` s of grace)."""
    before = browser_processes()
    yield
    new = new_browser_processes(before, timeout)
    if new:  # not a bare assert: it must hold under python -O too
        raise AssertionError(f"browser processes left behind: {describe(new)}")


def stop_process(process: "subprocess.Popen | None", grace: float = 10.0) -> None:
    """Stop a server the tests started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)
