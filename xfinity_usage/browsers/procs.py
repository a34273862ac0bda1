"""Processes as Linux's ``/proc`` shows them: what :mod:`xfinity_usage.browsers` needs to
find and reap everything a WebDriver started, and what the tests need to prove that
nothing was left behind.

Every reader answers None (or an empty value) for a process that is gone or
not ours to read; none raises for that. The waits take their clock and sleep
as arguments, so a caller chooses how long it waits and how.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Callable, Iterable, NamedTuple


class Stat(NamedTuple):
    """The fields of ``/proc/PID/stat`` we use."""

    state: str  #: R, S, D, Z (zombie), X (dead), ...
    ppid: int
    session: int
    starttime: int  #: clock ticks after boot; tells a recycled pid from the original

    @property
    def dead(self) -> bool:
        """A zombie or a dying process: it runs no more."""
        return self.state in ("Z", "X")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:  # gone, or not ours to read
        return None


def stat(pid: int) -> Stat | None:
    """State, parent, session and start time of ``pid``, or None if there is no such process."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    fields = data[data.rfind(b")") + 2:].split()  # the name in parentheses may hold spaces
    try:
        return Stat(fields[0].decode(), int(fields[1]), int(fields[3]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def cmdline(pid: int) -> list[bytes]:
    """The arguments of ``pid`` (``[]`` if gone; ``[b""]`` for a kernel thread)."""
    data = _read(f"/proc/{pid}/cmdline")
    return [] if data is None else data.split(b"\0")


def names(pid: int) -> list[str]:
    """What ``pid`` is called: its ``comm`` and the file name of its executable (each if readable)."""
    found = []
    comm = _read(f"/proc/{pid}/comm")
    if comm:
        found.append(comm.decode(errors="replace").strip())
    with contextlib.suppress(OSError):
        found.append(os.path.basename(os.readlink(f"/proc/{pid}/exe")).replace(" (deleted)", ""))
    return found


def environ(pid: int, timeout: float = 0.0, *, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> bytes | None:
    """The NUL-separated environment of ``pid``; None if the process is gone or unreadable.

    Right after ``exec`` the kernel shows an empty environment until the new
    program's stack is set up: with ``timeout``, wait up to that long for it
    to be filled in (it may stay empty: a process can clear its environment).
    """
    deadline = clock() + timeout
    while True:
        data = _read(f"/proc/{pid}/environ")
        if data or data is None or clock() >= deadline:
            return data
        sleep(0.01)


def all_pids() -> list[int]:
    """Every pid in ``/proc`` now."""
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def live(pids: Iterable[int]) -> dict[int, Stat]:
    """pid -> :class:`Stat` of those of ``pids`` that are running (not zombies)."""
    return {pid: st for pid in pids if (st := stat(pid)) is not None and not st.dead}


class ProcessTree:
    """A process (a WebDriver) and everything it started, tracked through ``/proc``.

    The driver runs in its own session (``start_new_session``), so its
    descendants are found even after they were re-parented to init. Crash
    helpers detach into their own session: Chrome's crashpad handler names
    the profile directory ``marker`` on its command line, Firefox's
    crashhelper the browser's pid.
    """

    def __init__(self, pid: int, marker: str, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, poll: float = 0.05):
        self.pid = pid
        self.marker = os.fsencode(marker)
        self.known: dict[int, int] = {}  # pid -> starttime
        self.clock = clock
        self.sleep = sleep
        self.poll = poll
        self.refresh()

    def refresh(self) -> None:
        """Record the driver and its live descendants (by parentage, session or helper)."""
        me = os.getpid()
        stats = live(all_pids())
        stats.pop(me, None)
        children: dict[int, list[int]] = {}
        for pid, st in stats.items():
            children.setdefault(st.ppid, []).append(pid)

        def add(roots: list[int]) -> None:
            while roots:
                pid = roots.pop()
                if pid in stats and pid not in self.known:
                    self.known[pid] = stats[pid].starttime
                    roots.extend(children.get(pid, []))

        add([self.pid] + [pid for pid, st in stats.items() if st.session == self.pid])
        helpers = []
        for pid in stats:
            if pid in self.known:
                continue
            argv = cmdline(pid)
            if any(self.marker in arg for arg in argv) or (
                    len(argv) > 1 and os.path.basename(argv[0]).startswith(b"crashhelper")
                    and argv[1].isdigit() and int(argv[1]) in self.known):
                helpers.append(pid)
        add(helpers)

    def alive(self) -> list[int]:
        """Tracked pids still running (not zombies, not a recycled pid)."""
        result = []
        for pid, start in self.known.items():
            st = stat(pid)
            if st is not None and st.starttime == start and not st.dead:
                result.append(pid)
        return result

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every tracked process to end; True if they did."""
        deadline = self.clock() + timeout
        while True:
            if not self.alive():
                return True
            if self.clock() >= deadline:
                return False
            self.sleep(self.poll)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every tracked process still running."""
        for pid in self.alive():
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


__all__ = ["ProcessTree", "Stat", "all_pids", "cmdline", "environ", "live", "names", "stat"]
