"""A real HTTP(S) server on 127.0.0.1 that records what it receives (for the webhook and notifications)."""
from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from typing import Iterator, Optional

import pytest


class Receiver:
    """Records each request (method, path, headers, body); answers from ``answers`` (status, headers)
    in turn, then 200."""

    def __init__(self, tls: Optional[tuple] = None):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        #: Seconds each answer waits (a slow service).
        self.delay = 0.0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                          "body": body})
                time.sleep(receiver.delay)
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def json_bodies(self) -> list:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def tls_receiver(mqtt_ca) -> Iterator[Receiver]:
    """An HTTPS receiver whose certificate the test CA (``mqtt_ca.ca_cert``) signed."""
    running = Receiver(tls=(str(mqtt_ca.server_cert), str(mqtt_ca.server_key)))
    yield running
    running.close()
