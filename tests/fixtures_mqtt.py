"""The ``make_broker`` fixture: real mosquitto brokers on free loopback ports, and a reader of retained messages.

mosquitto comes from Debian's ``mosquitto`` package. Each broker gets its own
directory and port, so tests can run in parallel (pytest-xdist). TLS brokers
use a throwaway CA made with the ``openssl`` command (session-scoped
``mqtt_ca``); the server certificate names 127.0.0.1 and localhost.

Started as root, mosquitto drops to the ``mosquitto`` user unless its
``user`` option names another: the config sets ``user`` to whoever runs the
tests, so the broker keeps reading the test's private files (and as a normal
user the option has no effect).
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

from .proctools import stop_process

START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _need(program: str, package: str) -> str:
    found = shutil.which(program) or (f"/usr/sbin/{program}" if os.path.exists(f"/usr/sbin/{program}") else None)
    if not found:
        pytest.fail(f"{program} not found: install the Debian package {package} "
                    f"(apt-get install {package}, or make system-deps)", pytrace=False)
    return found


class CA:
    """A throwaway certificate authority and one server certificate for 127.0.0.1/localhost."""

    def __init__(self, root: Path):
        self.root = root
        self.ca_cert = root / "ca.crt"
        self.server_cert = root / "server.crt"
        self.server_key = root / "server.key"

    def make(self) -> CA:
        openssl = _need("openssl", "openssl")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        r = self.root
        ext = r / "san.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
        for cmd in (
            [openssl, "req", "-x509", *ec, "-keyout", str(r / "ca.key"), "-out", str(self.ca_cert), "-days", "2",
             "-subj", "/CN=xfinity-usage test CA"],
            [openssl, "req", *ec, "-keyout", str(self.server_key), "-out", str(r / "server.csr"),
             "-subj", "/CN=127.0.0.1"],
            [openssl, "x509", "-req", "-in", str(r / "server.csr"), "-CA", str(self.ca_cert), "-CAkey",
             str(r / "ca.key"), "-CAcreateserial", "-out", str(self.server_cert), "-days", "2",
             "-extfile", str(ext)],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                pytest.fail(f"openssl failed: {' '.join(cmd)}\n{proc.stderr}", pytrace=False)
        return self


class Broker:
    """A running mosquitto: ``host``, ``port``, optional ``user``/``password`` and ``ca`` (TLS)."""

    def __init__(self, root: Path, *, user: Optional[str] = None, password: Optional[str] = None,
                 ca: Optional[CA] = None):
        self.root = root
        self.host = "127.0.0.1"
        self.port = 0
        self.user = user
        self.password = password
        self.ca = ca
        self.log_path = root / "mosquitto.log"
        self.process: Optional[subprocess.Popen] = None

    def _config(self) -> str:
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}", "persistence false",
                 "log_dest stderr", "log_type all", "connection_messages true"]
        if self.user:
            passwords = self.root / "passwords"
            passwords.write_text("")
            subprocess.run([_need("mosquitto_passwd", "mosquitto"), "-b", str(passwords), self.user,
                            self.password or ""], check=True, capture_output=True)
            os.chmod(passwords, 0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.ca:
            lines += [f"cafile {self.ca.ca_cert}", f"certfile {self.ca.server_cert}",
                      f"keyfile {self.ca.server_key}"]
        return "\n".join(lines) + "\n"

    def start(self, attempts: int = 3) -> Broker:
        executable = _need("mosquitto", "mosquitto")
        for _ in range(attempts):
            self.port = free_port()
            conf = self.root / "mosquitto.conf"
            conf.write_text(self._config())
            with open(self.log_path, "ab") as log:
                start = log.tell()
                self.process = subprocess.Popen([executable, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait(start):
                return self
            self.stop()
        pytest.fail(f"mosquitto did not start on {self.host}:{self.port}; log:\n{self.log_text()}", pytrace=False)

    def _wait(self, offset: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            if " running" in self.log_text(offset):
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def log_text(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.process)

    def client(self):
        """A connected paho client (VERSION2 API) with this broker's credentials and CA."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{os.getpid()}-{time.monotonic_ns()}")
        if self.user:
            client.username_pw_set(self.user, self.password)
        if self.ca:
            client.tls_set(ca_certs=str(self.ca.ca_cert))
        client.connect(self.host, self.port)
        return client

    def retained(self, topic: str = "#", quiet: float = 0.5, timeout: float = 10.0) -> dict:
        """Every retained message under ``topic`` as ``{topic: payload text}``, read by a fresh subscriber."""
        found: dict = {}
        last = [time.monotonic()]
        subscribed = threading.Event()

        def on_message(client, userdata, message):
            if message.retain:
                found[message.topic] = message.payload.decode()
            last[0] = time.monotonic()

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            last[0] = time.monotonic()
            subscribed.set()

        client = self.client()
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        client.loop_start()
        try:
            client.subscribe(topic, qos=1)
            assert subscribed.wait(timeout), "no SUBACK from mosquitto"
            deadline = time.monotonic() + timeout
            while time.monotonic() - last[0] < quiet and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            client.disconnect()
            client.loop_stop()
        return found


@pytest.fixture(scope="session")
def mqtt_ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    """A throwaway CA and a server certificate for 127.0.0.1 (made once per test process)."""
    return CA(tmp_path_factory.mktemp("mqtt-ca")).make()


@pytest.fixture
def make_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Broker]]:
    """Factory: ``make_broker(user=..., password=..., ca=...)`` starts a mosquitto; all stop at teardown."""
    started: list = []

    def make(**kwargs) -> Broker:
        broker = Broker(tmp_path_factory.mktemp("mosquitto"), **kwargs).start()
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()
