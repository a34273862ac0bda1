"""The simulated site: two threaded HTTP servers on 127.0.0.1 and their shared state."""
from __future__ import annotations

import base64
import datetime
import hmac
import logging
import os
import secrets
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from . import data, pages, routes
from .faults import Fault, FaultPlan, replacement, rewrite
from .responses import Response, error, html

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo@example.com"
DEMO_PASSWORD = "demo-password-1"
SCENARIOS = ("normal", "legacy_form", "mfa", "access_denied", "security_check", "unlimited",
             "unlimited_404", "json_gone", "password_reset")
MAX_BODY = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], site: "SimulatedSite", label: str):
        self.site = site
        self.label = label
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        logger.debug("%s host: error while handling a request", self.label, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SimulatedXfinity/1.0"
    sys_version = ""
    _reset = False

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: nothing to stderr
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        site, host = self.server.site, self.server.label
        body = b""
        if method == "POST":
            try:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            except ValueError:
                length = 0
            body = self.rfile.read(length) if length > 0 else b""
        req = routes.Request(method, self.path, dict(self.headers.items()), body)
        site._record(host, method, self.path, req.headers)
        if host == "login" and method == "POST" and req.path == "/login" and routes.is_password_post(req.form()):
            site._count_password()
        logger.debug("%s %s %s", host, method, req.path)
        response = self._answer(site, host, req)
        if response is not None:
            self._send(response)

    def _answer(self, site: "SimulatedSite", host: str, req: routes.Request) -> Optional[Response]:
        if site.scenario == "access_denied":
            return site._access_denied(host, req)
        kind = site._plan.pick(host, req.path, req.method)
        if kind is not None:
            site._record_fault(req.path, kind)
            logger.debug("fault %s on %s %s", kind, host, req.path)
        if kind == "reset":
            self._reset_connection()
            return None
        if kind == "access_denied":
            return site._access_denied(host, req)
        if kind == "slow":
            site._stopping.wait(site.slow_seconds)
        if kind is not None:
            replaced = replacement(kind)
            if replaced is not None:
                return replaced
        try:
            response = (routes.customer_host if host == "customer" else routes.login_host)(site, req)
        except Exception:  # noqa: BLE001 - a bug here must not hang the client
            logger.exception("simulated %s host failed on %s", host, req.path)
            response = error(500)
        return rewrite(kind, response) if kind is not None else response

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (ConnectionError, OSError) as exc:
            logger.debug("client went away: %s", exc.__class__.__name__)
            self.close_connection = True

    def _reset_connection(self) -> None:
        """Close the socket with a TCP RST and no response (SO_LINGER 0)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._reset = True
        self.close_connection = True

    def finish(self) -> None:
        if self._reset:
            for stream in (self.wfile, self.rfile):
                try:
                    stream.close()
                except OSError:
                    pass
            self.connection.close()  # the last reference: the kernel sends RST
            return
        super().finish()


class SimulatedSite:
    """The Xfinity site on 127.0.0.1: a customer host and a login host (see docs/site.rst).

    Start it with :meth:`start` (or ``with``); :attr:`urls` then holds the
    five URLs a client needs.
    """

    def __init__(self, scenario: str = "normal", username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD,
                 faults: Iterable[Fault] = (), fault_rate: float = 0.0, fault_kinds: Optional[Sequence[str]] = None,
                 seed: Optional[int] = None, today: Optional[datetime.date] = None, slow_seconds: float = 2.0,
                 port_customer: int = 0, port_login: int = 0):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self.username = username
        self.password = password
        self.today = today or datetime.date.today()
        self.slow_seconds = slow_seconds
        self.port_customer = port_customer
        self.port_login = port_login
        self._plan = FaultPlan(faults, fault_rate, fault_kinds, seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: List[_Server] = []
        self._threads: List[threading.Thread] = []
        self._sessions: Dict[str, dict] = {}
        self._logins: Dict[str, dict] = {}
        self._codes: Dict[str, float] = {}
        #: Every request, in arrival order: (host label, method, path with query, headers).
        self.requests: List[Tuple[str, str, str, Dict[str, str]]] = []
        #: Every fault injected, in order: (path, kind).
        self.injected: List[Tuple[str, str]] = []
        #: How many POSTs carried a password (answered or not).
        self.password_submissions = 0
        self.home_origin = ""
        self.login_origin = ""

    def __repr__(self) -> str:
        state = "running" if self._servers else "stopped"
        return f"<SimulatedSite scenario={self.scenario!r} {state} {self.home_origin or ''}>"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "SimulatedSite":
        """Bind both hosts on 127.0.0.1 and serve them in background threads."""
        if self._servers:
            return self
        self._stopping.clear()
        customer = _Server(("127.0.0.1", self.port_customer), self, "customer")
        try:
            login = _Server(("127.0.0.1", self.port_login), self, "login")
        except OSError:
            customer.server_close()
            raise
        self._servers = [customer, login]
        self.home_origin = f"http://127.0.0.1:{customer.server_address[1]}"
        self.login_origin = f"http://127.0.0.1:{login.server_address[1]}"
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"simulated-{server.label}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.debug("simulated site (%s) at %s and %s", self.scenario, self.home_origin, self.login_origin)
        return self

    def stop(self) -> None:
        """Stop serving and release the ports (requests in flight are abandoned)."""
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> "SimulatedSite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests look at ---------------------------------------------------

    @property
    def urls(self) -> Dict[str, str]:
        """The five site URLs (HOME_URL, LOGIN_URL, USAGE_JSON_URL, LEGACY_USAGE_JSON_URL, USAGE_PAGE_URL)."""
        if not self.home_origin:
            raise RuntimeError("the simulated site is not started")
        home = self.home_origin
        return {
            "HOME_URL": home + "/",
            "LOGIN_URL": self.login_origin + "/login",
            "USAGE_JSON_URL": f"{home}{routes.USAGE_PATH}?{routes.USAGE_QUERY}",
            "LEGACY_USAGE_JSON_URL": home + routes.LEGACY_USAGE_PATH,
            "USAGE_PAGE_URL": home + "/" + routes.USAGE_ROUTE,
        }

    def expected_reading(self) -> dict:
        """What a correct client reports for this scenario: ``{"units", "used", "total"}``."""
        return data.expected_reading(self.scenario)

    def usage_json(self) -> dict:
        """The body the usage endpoints send (in scenarios that send one)."""
        return data.usage_json(self.today, self.scenario)

    def add_faults(self, *faults: Fault) -> None:
        """Inject more faults into the running site (counted from now on)."""
        for fault in faults:
            self._plan.add(fault)

    def expire_sessions(self) -> None:
        """Forget every session on both hosts: the next JSON call gets 401, the next page the sign-in form."""
        with self._lock:
            self._sessions.clear()
            self._logins.clear()
            self._codes.clear()

    # -- state used by the routes ----------------------------------------------

    def _record(self, host: str, method: str, target: str, headers: Dict[str, str]) -> None:
        with self._lock:
            self.requests.append((host, method, target, headers))

    def _record_fault(self, path: str, kind: str) -> None:
        with self._lock:
            self.injected.append((path, kind))

    def _count_password(self) -> None:
        with self._lock:
            self.password_submissions += 1

    def _check_credentials(self, user: str, password: str) -> bool:
        good_user = hmac.compare_digest(user.encode("utf-8"), self.username.encode("utf-8"))
        good_password = hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))
        return good_user and good_password

    def _new_login_session(self, needs_check: bool = False) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._logins[token] = {"needs_check": needs_check, "created": time.time()}
        return token

    def _login_session(self, token: Optional[str]) -> Optional[dict]:
        with self._lock:
            return dict(self._logins[token]) if token in self._logins else None

    def _clear_security_check(self, token: Optional[str]) -> None:
        with self._lock:
            if token in self._logins:
                self._logins[token]["needs_check"] = False

    def _issue_code(self) -> str:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = time.time()
        return code

    def _redeem_code(self, code: str) -> bool:
        with self._lock:
            return self._codes.pop(code, None) is not None

    def _new_customer_session(self) -> Tuple[str, str]:
        """A new session token and its XSRF token (standard base64: it ends in ``=``)."""
        session = secrets.token_urlsafe(32)
        xsrf = base64.b64encode(os.urandom(16)).decode("ascii")
        with self._lock:
            self._sessions[session] = {"xsrf": xsrf, "created": time.time()}
        return session, xsrf

    def _customer_session(self, token: Optional[str]) -> Optional[dict]:
        with self._lock:
            return dict(self._sessions[token]) if token in self._sessions else None

    def _access_denied(self, host: str, req: routes.Request) -> Response:
        origin = self.home_origin if host == "customer" else self.login_origin
        reference = f"{secrets.token_hex(4)}.{int(time.time())}.{secrets.token_hex(4)}"
        return html(pages.access_denied_page(origin + req.path, reference), 403)
