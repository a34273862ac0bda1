"""The one file-lock helper: one owner per path in a process, re-entrant; other processes wait or are refused."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

import pytest

from xfinity_usage.locks import file_lock

#: Another process trying the lock for ``timeout`` seconds; prints True/False and the holder it saw.
OTHER = """
import sys
from xfinity_usage.locks import file_lock
lock = file_lock(sys.argv[1])
got = lock.acquire(float(sys.argv[2]))
print(got, lock.holder() if not got else "")
"""


def other_process(path, timeout=0.0):
    done = subprocess.run([sys.executable, "-c", OTHER, str(path), str(timeout)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_one_owner_per_path_and_re_entrant(tmp_path):
    path = tmp_path / "d" / "account.lock"
    lock = file_lock(str(path))
    assert file_lock(str(tmp_path / "d" / ".." / "d" / "account.lock")) is lock
    assert lock.acquire(0)
    assert lock.acquire(0)  # the token refresh under the loop's own lock: no wait on itself
    assert lock.held
    lock.release()
    assert lock.held and other_process(path) == ["False", str(os.getpid())]
    lock.release()
    assert not lock.held and other_process(path) == ["True"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_another_process_waits_until_the_holder_lets_go(tmp_path):
    path = tmp_path / "account.lock"
    lock = file_lock(str(path))
    lock.acquire()
    other = subprocess.Popen([sys.executable, "-c", OTHER, str(path), "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.wait(timeout=0.5) is None
    except subprocess.TimeoutExpired:  # still waiting, as it should
        pass
    lock.release()
    assert other.communicate(timeout=20)[0].split() == ["True"]  # it got the lock once let go


def test_another_thread_waits_for_the_owner(tmp_path):
    lock = file_lock(str(tmp_path / "account.lock"))
    seen = []

    def other_thread():
        seen.append(lock.acquire(0.05))
        try:
            lock.release()
        except RuntimeError as exc:
            seen.append(str(exc))

    with lock.hold() as got:
        assert got
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert lock.held
    assert seen == [False, f"{lock.path} is held by another thread"] and not lock.held


def test_release_without_acquire_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="not locked"):
        file_lock(str(tmp_path / "x.lock")).release()


def test_on_wait_is_called_once_while_another_process_holds_it(tmp_path):
    path = tmp_path / "account.lock"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from xfinity_usage.locks import file_lock\n"
                               "file_lock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(30)",
                               str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        waits = []
        assert file_lock(str(path)).acquire(0.1, on_wait=lambda: waits.append(1)) is False
        assert waits == [1] and not file_lock(str(path)).held
    finally:
        holder.kill()
        holder.wait()
