"""File locks: the one helper behind every lock the tool takes.

A lock is an exclusive :func:`fcntl.flock` on a file, holding the owner's
pid while it is held. The account lock (``--interval``), the app token
file's lock and Firefox's warm-start lock all come from :func:`file_lock`.

Within a process a path has one owner, a :class:`FileLock` shared by every
caller, and it is re-entrant: the ``--interval`` loop that holds an
account's lock refreshes that account's token under the same lock instead
of waiting on itself (two descriptors of one file ``flock`` each other out,
even in one process). Another process waits, up to a timeout, or is refused.

(``filelock`` 4.x would do this too, but it takes 56-86 ms to import here,
half of a warm run's whole budget; this module imports nothing new.)
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from typing import Callable, Iterator, Optional

from .files import ensure_private_dir

logger = logging.getLogger(__name__)

#: Seconds between two tries while another process holds the lock.
POLL = 0.02

_registry: dict[str, "FileLock"] = {}
_registry_guard = threading.Lock()


def file_lock(path: str) -> FileLock:
    """This process's one :class:`FileLock` of ``path`` (the same object for every caller)."""
    key = os.path.realpath(path)
    with _registry_guard:
        lock = _registry.get(key)
        if lock is None:
            lock = _registry[key] = FileLock(path)
        return lock


class FileLock:
    """An exclusive, re-entrant lock on ``path`` (created 0600 in a 0700 directory).

    Use :func:`file_lock` rather than this class, so that a process has
    one owner per path. One thread holds it at a time; the holding thread
    may take it again (each :meth:`acquire` needs its :meth:`release`).
    """

    def __init__(self, path: str):
        self.path = path
        self._thread = threading.RLock()
        self._fd: Optional[int] = None
        self._count = 0

    def __repr__(self) -> str:
        return f"FileLock({self.path!r}, held={self.held})"

    @property
    def held(self) -> bool:
        """True while this process holds the lock."""
        return self._count > 0

    def acquire(self, timeout: Optional[float] = None, *, sleep: Callable[[float], None] = time.sleep,
                on_wait: Optional[Callable[[], None]] = None) -> bool:
        """Take the lock; False when another process still held it after ``timeout`` seconds.

        ``timeout`` 0 tries once; None waits as long as it takes. ``on_wait``
        is called once when the lock is found taken by another process.
        Raises :class:`OSError` when the lock file cannot be made.
        """
        if not self._thread.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return False
        try:
            if self._count == 0 and not self._lock_file(timeout, sleep, on_wait):
                self._thread.release()
                return False
        except BaseException:
            self._thread.release()
            raise
        self._count += 1
        return True

    def _lock_file(self, timeout: Optional[float], sleep: Callable[[float], None],
                   on_wait: Optional[Callable[[], None]]) -> bool:
        ensure_private_dir(os.path.dirname(os.path.abspath(self.path)))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = None if timeout is None else time.monotonic() + timeout
        waited = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        os.close(fd)
                        return False
                    if not waited and on_wait is not None:
                        on_wait()
                    waited = True
                    sleep(POLL if left is None else min(POLL, left))
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give back one :meth:`acquire`; the last one unlocks the file."""
        if self._count <= 0:
            raise RuntimeError(f"{self.path} is not locked by this process")
        if not self._thread.acquire(blocking=False):  # only the holding thread may let go
            raise RuntimeError(f"{self.path} is held by another thread")
        self._thread.release()
        self._count -= 1
        if self._count == 0:
            fd, self._fd = self._fd, None
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                os.close(fd)  # closing the descriptor drops the flock
        self._thread.release()

    def holder(self) -> str:
        """The pid written in the lock file by whoever holds it ("" when none is known)."""
        try:
            with open(self.path, encoding="ascii", errors="replace") as handle:
                return handle.read(32).strip()
        except OSError:
            return ""

    @contextlib.contextmanager
    def hold(self, timeout: Optional[float] = None) -> Iterator[bool]:
        """Hold the lock for a ``with`` block; yields False (not held) when ``timeout`` ran out."""
        got = self.acquire(timeout)
        try:
            yield got
        finally:
            if got:
                self.release()


__all__ = ["FileLock", "file_lock"]
