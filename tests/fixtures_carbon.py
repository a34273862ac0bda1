"""The ``carbon`` fixture: a real carbon-cache on a free loopback port, read back through whisper.

carbon-cache comes from Debian's ``graphite-carbon`` package (``/usr/bin/carbon-cache``,
run by ``/usr/bin/python3``) or from a pip ``carbon`` install. Its whisper files are
read with the ``whisper`` module of the interpreter running pytest, so that
interpreter needs the PyPI ``whisper`` package (Debian's ``python3-whisper`` is
only seen by ``/usr/bin/python3``).
"""
from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .proctools import stop_process

#: Where to look for carbon-cache, first found wins (Debian package, then PATH, then pip's default prefix).
CARBON_CANDIDATES = ("/usr/bin/carbon-cache", "carbon-cache", "/opt/graphite/bin/carbon-cache")
#: Finest archive first: 1 s points keep exact timestamps for a day, 1 h points keep a year.
RETENTIONS = "1s:1d,1h:1y"
START_TIMEOUT = 30.0

CARBON_CONF = """\
[cache]
STORAGE_DIR = {root}/storage
LOCAL_DATA_DIR = {root}/storage/whisper
WHITELISTS_DIR = {root}/storage/lists
LOG_DIR = {root}/storage/log
PID_DIR = {root}/storage
USER =
DATABASE = whisper
ENABLE_TAGS = False
ENABLE_LOGROTATION = False
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {port}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = 0
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
CARBON_METRIC_INTERVAL = 0
LOG_UPDATES = True
LOG_CREATES = True
"""

STORAGE_SCHEMAS = f"""\
[everything]
pattern = .*
retentions = {RETENTIONS}
"""

# xFilesFactor 0 so a lone point also reaches the coarser archive.
STORAGE_AGGREGATION = """\
[everything]
pattern = .*
xFilesFactor = 0
aggregationMethod = last
"""


def find_carbon_cache() -> str | None:
    """Path of a carbon-cache executable, or None."""
    for candidate in CARBON_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Carbon:
    """A running carbon-cache: where to send (``host``, ``port``) and how to read back."""

    def __init__(self, executable: str, root: Path) -> None:
        self.executable = executable
        self.root = root
        self.host = "127.0.0.1"
        self.port = 0
        self.data_dir = root / "storage" / "whisper"
        self.log_path = root / "carbon-cache.log"
        self.process: subprocess.Popen | None = None

    def start(self, attempts: int = 3) -> None:
        """Start carbon-cache and wait until its line receiver accepts; pytest.fail if it cannot."""
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "storage-schemas.conf").write_text(STORAGE_SCHEMAS)
        (conf / "storage-aggregation.conf").write_text(STORAGE_AGGREGATION)
        for attempt in range(attempts):
            self.port = free_port()
            (conf / "carbon.conf").write_text(CARBON_CONF.format(root=self.root, port=self.port))
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            env["GRAPHITE_ROOT"] = str(self.root)
            with open(self.log_path, "ab") as log:
                log_start = log.tell()
                self.process = subprocess.Popen(
                    [self.executable, f"--config={conf / 'carbon.conf'}", "--nodaemon",
                     f"--pidfile={self.root / 'carbon-cache.pid'}", "start"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)
            if self._wait_until_listening(log_start):
                return
            self.stop()
            if attempt + 1 < attempts and "Address already in use" in self._log_since(log_start):
                continue  # lost the race for the port: pick another
            break
        pytest.fail(f"carbon-cache ({self.executable}) did not listen on {self.host}:{self.port}; "
                    f"log {self.log_path}:\n{self.log_tail()}", pytrace=False)

    def _wait_until_listening(self, log_start: int) -> bool:
        """True once carbon-cache logged that it listens on our port and the port accepts.

        The log line matters: a connection alone could reach another program
        that took the port between :func:`free_port` and carbon's bind.
        """
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            log = self._log_since(log_start)
            if "Address already in use" in log:
                return False
            if f"starting on {self.port}" in log:
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return True
                except OSError:
                    pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Terminate carbon-cache (SIGTERM, then SIGKILL after 10 s)."""
        stop_process(self.process)

    def _log_since(self, offset: int) -> str:
        """carbon-cache's output from byte ``offset`` on (this start attempt's)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of carbon-cache's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def path(self, metric: str) -> Path:
        """The whisper file of ``metric`` (``a.b.c`` -> ``<data dir>/a/b/c.wsp``)."""
        return self.data_dir.joinpath(*metric.split(".")).with_suffix(".wsp")

    def points(self, metric: str) -> list[tuple[int, float]]:
        """Known ``(timestamp, value)`` points of ``metric`` now, oldest first; [] if no file yet.

        Like graphite-web, each archive answers only for the time its finer
        archives no longer cover, so a recent point appears once, at 1 s
        precision, and a point older than a day at 1 h precision.
        """
        import whisper

        path = str(self.path(metric))
        if not os.path.exists(path):
            return []
        now = int(time.time())
        found: dict[int, float] = {}
        newest = now
        for archive in whisper.info(path)["archives"]:
            oldest = now - archive["retention"]
            fetched = whisper.fetch(path, oldest, newest, now=now, archiveToSelect=archive["secondsPerPoint"])
            if fetched is not None:
                (start, _end, step), values = fetched
                for index, value in enumerate(values):
                    if value is not None:
                        found.setdefault(start + index * step, value)
            newest = oldest
        return sorted(found.items())

    def read(self, metric: str, timeout: float = 30) -> list[tuple[int, float]]:
        """Poll until ``metric`` has a known point (carbon flushes about once a second); return all of them."""
        return self._poll(metric, lambda points: bool(points), timeout, "any point")

    def wait_for(self, metric: str, value: float, timestamp: int | None = None,
                 timeout: float = 30) -> tuple[int, float]:
        """Poll until ``metric`` has ``value`` (at ``timestamp`` if given); return that point."""
        def match(point: tuple[int, float]) -> bool:
            return math.isclose(point[1], value, rel_tol=1e-9) and (timestamp is None or point[0] == timestamp)

        points = self._poll(metric, lambda points: any(map(match, points)), timeout,
                            f"value {value!r}" + (f" at {timestamp}" if timestamp is not None else ""))
        return next(point for point in points if match(point))

    def _poll(self, metric: str, done: Callable[[list[tuple[int, float]]], bool], timeout: float,
              wanted: str) -> list[tuple[int, float]]:
        """Poll the points of ``metric`` until ``done(points)``; pytest.fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        points: list[tuple[int, float]] = []
        error: Exception | None = None
        while True:
            try:
                points = self.points(metric)
                error = None
            except Exception as exc:  # file being created or written as we read it
                error = exc
            if error is None and done(points):
                return points
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if self.process is not None and self.process.poll() is not None:
            problem = f"carbon-cache exited with {self.process.returncode}"
        else:
            problem = f"last read error: {error!r}" if error else f"points: {points}"
        pytest.fail(f"{metric} ({self.path(metric)}) had no {wanted} after {timeout} s; {problem}; "
                    f"carbon-cache log:\n{self.log_tail()}", pytrace=False)


@pytest.fixture(scope="session")
def carbon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Carbon]:
    """A carbon-cache for the whole session; fails (does not skip) if it is not installed."""
    executable = find_carbon_cache()
    if executable is None:
        pytest.fail("carbon-cache not found: install the Debian package graphite-carbon "
                    "(apt-get install graphite-carbon) or pip's carbon", pytrace=False)
    try:
        import whisper  # noqa: F401
    except ImportError:
        pytest.fail("the whisper module is missing from the Python running pytest: pip install whisper "
                    "(Debian's python3-whisper serves only /usr/bin/python3)", pytrace=False)
    server = Carbon(executable, tmp_path_factory.mktemp("carbon"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
