"""xfinity_usage.browsers.procs: /proc readers and the process tree that reaps a driver's children."""
import os
import signal
import subprocess
import sys
import time

import pytest

from xfinity_usage.browsers import procs


def test_stat_of_this_process():
    st = procs.stat(os.getpid())
    assert st is not None and not st.dead
    assert st.ppid == os.getppid() and st.session == os.getsid(0) and st.starttime > 0


def test_readers_of_a_missing_process():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert procs.stat(gone.pid) is None
    assert procs.cmdline(gone.pid) == []
    assert procs.environ(gone.pid, timeout=1.0) is None  # gone: no waiting for it
    assert procs.names(gone.pid) == []
    assert gone.pid not in procs.live([gone.pid])


def test_zombie_is_dead():
    child = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        st = procs.stat(child.pid)
        assert st is not None and st.dead
        assert child.pid not in procs.live([child.pid])
    finally:
        child.wait()


def test_cmdline_names_and_environ(tmp_path):
    child = subprocess.Popen(["sleep", "30"], env={"XU_PROCS_TEST": "yes", "PATH": os.environ["PATH"]})
    try:
        assert procs.environ(child.pid, timeout=10.0) == b"XU_PROCS_TEST=yes\0PATH=" + os.environ["PATH"].encode() + b"\0"
        assert procs.cmdline(child.pid)[:2] == [b"sleep", b"30"]
        assert "sleep" in procs.names(child.pid)
        assert child.pid in procs.all_pids()
    finally:
        child.kill()
        child.wait()


def test_environ_waits_until_filled_in():
    """Right after exec the environment may read empty: the wait is on a condition, with a deadline."""
    reads = iter([b"", b"", b"A=1\0"])
    ticks = iter(range(100))
    real_read = procs._read
    try:
        procs._read = lambda path: next(reads)
        slept = []
        assert procs.environ(1, timeout=5, clock=lambda: next(ticks) * 0.01, sleep=slept.append) == b"A=1\0"
        assert len(slept) == 2
        procs._read = lambda path: b""
        assert procs.environ(1, timeout=0.05, clock=lambda: next(ticks) * 0.01, sleep=lambda s: None) == b""
    finally:
        procs._read = real_read


@pytest.fixture
def family():
    """A process in its own session (like a driver) with a child and an orphan (re-parented, same session)."""
    code = ("import subprocess, time\n"
            "subprocess.Popen(['sleep', '60'])\n"
            "subprocess.run(['sh', '-c', 'sleep 61 >/dev/null &'])\n"  # sh exits: its sleep is re-parented
            "print('ready', flush=True)\ntime.sleep(60)\n")
    root = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert root.stdout.readline().strip() == "ready"
    try:
        # sh has exited, but its background child may not have exec'd sleep yet (seen under load)
        deadline = time.monotonic() + 10
        while not _orphans(root) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield root
    finally:
        for pid, st in procs.live(procs.all_pids()).items():
            if st.session == root.pid:
                os.kill(pid, signal.SIGKILL)
        root.wait()
        root.stdout.close()


def _orphans(root):
    """The family's re-parented ``sleep 61``."""
    return [pid for pid, st in procs.live(procs.all_pids()).items()
            if st.session == root.pid and procs.cmdline(pid)[:2] == [b"sleep", b"61"]]


def test_process_tree_finds_and_kills_the_session(family):
    orphans = _orphans(family)
    assert len(orphans) == 1 and procs.stat(orphans[0]).ppid != family.pid
    tree = procs.ProcessTree(family.pid, "no-marker-here")
    found = tree.alive()
    assert family.pid in found and orphans[0] in found and len(found) == 3  # root, child, orphan
    assert not tree.wait(0)
    tree.kill(signal.SIGKILL)
    family.wait(10)
    assert tree.wait(10) and tree.alive() == []


def test_process_tree_finds_helpers_by_marker(tmp_path):
    marker = str(tmp_path / "run-dir")
    root = subprocess.Popen(["sleep", "60"], start_new_session=True)
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                              start_new_session=True)  # names the run dir on its command line
    try:
        deadline = time.monotonic() + 10  # /proc may not show the new command line at once (seen under load)
        while marker.encode() not in procs.cmdline(helper.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        tree = procs.ProcessTree(root.pid, marker)
        assert set(tree.alive()) == {root.pid, helper.pid}
        tree.kill(signal.SIGTERM)
        assert tree.wait(10)
    finally:
        for proc in (root, helper):
            proc.kill()
            proc.wait()
