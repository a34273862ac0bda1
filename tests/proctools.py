"""Browser and driver processes, read from /proc, to prove none is left behind.

Several test runs may share the machine, so a run can tag the processes it
starts: when ``XFINITY_USAGE_TEST_RUN`` is set (the ``browser_process_marker``
fixture sets it), only processes that inherited the same value count as new.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Iterator, Optional

MARKER_ENV = "XFINITY_USAGE_TEST_RUN"

#: comm or executable names of browsers, their helpers and WebDrivers.
BROWSER_NAME = re.compile(r"^(chromium|chrome|chromedriver|firefox|firefox-esr|firefox-bin|geckodriver|"
                          r"phantomjs|crashhelper)")


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:  # gone, or not ours to read
        return None


def _state(pid: int) -> Optional[str]:
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode() if fields else None


def _names(pid: int) -> list:
    names = []
    comm = _read(f"/proc/{pid}/comm")
    if comm:
        names.append(comm.decode(errors="replace").strip())
    with contextlib.suppress(OSError):
        names.append(os.path.basename(os.readlink(f"/proc/{pid}/exe")).replace(" (deleted)", ""))
    return names


def _marker(pid: int) -> Optional[str]:
    environ = _read(f"/proc/{pid}/environ") or b""
    prefix = MARKER_ENV.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix):].decode(errors="replace")
    return None


def is_browser_process(pid: int) -> bool:
    """True if ``pid`` is alive (not a zombie) and is a browser, helper or driver."""
    state = _state(pid)
    if state is None or state in ("Z", "X"):
        return False
    return any(BROWSER_NAME.match(name) for name in _names(pid))


def browser_processes(marker: Optional[str] = None) -> set:
    """Live pids of chromium/chrome/chromedriver/firefox/geckodriver/phantomjs processes.

    With ``marker``, only those whose environment has ``XFINITY_USAGE_TEST_RUN=marker``.
    """
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid() or not is_browser_process(pid):
            continue
        if marker is not None and _marker(pid) != marker:
            continue
        pids.add(pid)
    return pids


def describe(pids) -> str:
    """``pid name`` of each process, for assertion messages."""
    parts = []
    for pid in sorted(pids):
        cmdline = (_read(f"/proc/{pid}/cmdline") or b"").replace(b"\0", b" ").decode(errors="replace")
        parts.append(f"{pid} {cmdline[:120] or '?'}")
    return "; ".join(parts)


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
