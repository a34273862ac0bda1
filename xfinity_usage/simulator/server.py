"""The simulated site: four threaded HTTP servers on 127.0.0.1 (one per host) and their shared state."""
from __future__ import annotations

import datetime
import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable, Sequence

from . import data, routes
from .faults import Fault, FaultPlan, replacement, rewrite
from .responses import Response, error
from .state import RequestRecord, SiteState

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo@example.com"
DEMO_PASSWORD = "demo-password-1"
SCENARIOS = ("normal", "legacy_form", "mfa", "access_denied", "security_check", "unlimited",
             "unlimited_404", "json_gone", "password_reset", "moved", "api_sc", "scrape_text",
             "months_reversed", "unlimited_zero", "unlimited_large", "unlimited_name", "over_cap",
             "over_cap_courtesy")
#: The hosts, by label: the customer site, the login site, the new account site (www.xfinity.com)
#: and the 2024 API host (api.sc.xfinity.com); each is its own port on 127.0.0.1.
HOSTS = ("customer", "login", "account", "api")
_ROUTES = {"customer": routes.customer_host, "login": routes.login_host, "account": routes.account_host,
           "api": routes.api_host}
MAX_BODY = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: "SimulatedSite", label: str):
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

    def do_OPTIONS(self) -> None:  # noqa: N802 - CORS preflights to the API host
        self._serve("OPTIONS")

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
        state = site.state
        state.record_request(host, method, self.path, req.headers)
        if host == "login" and method == "POST" and req.path == "/login" and routes.is_password_post(req.form()):
            state.count_password_submission()
        logger.debug("%s %s %s", host, method, req.path)
        response = self._answer(site, host, req)
        if response is not None:
            self._send(response)

    def _answer(self, site: "SimulatedSite", host: str, req: routes.Request) -> Response | None:
        state = site.state
        if state.scenario == "access_denied":
            return routes.access_denied(state, host, req)
        kind = site.fault_plan.pick(host, req.path, req.method)
        if kind is not None:
            state.record_fault(req.path, kind)
            logger.debug("fault %s on %s %s", kind, host, req.path)
        if kind == "reset":
            self._reset_connection()
            return None
        if kind == "access_denied":
            return routes.access_denied(state, host, req)
        if kind == "slow":
            site._stopping.wait(site.slow_seconds)
        if kind is not None:
            replaced = replacement(kind)
            if replaced is not None:
                return replaced
        try:
            response = _ROUTES[host](state, req)
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
    """The Xfinity site on 127.0.0.1: a customer host, a login host, the new account site and the
    2024 API host (see docs/site.rst).

    Start it with :meth:`start` (or ``with``); :attr:`urls` then holds the
    URLs a client needs.
    """

    def __init__(self, scenario: str = "normal", username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD,
                 faults: Iterable[Fault] = (), fault_rate: float = 0.0, fault_kinds: Sequence[str] | None = None,
                 seed: int | None = None, today: datetime.date | None = None, slow_seconds: float = 2.0,
                 port_customer: int = 0, port_login: int = 0):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        #: Everything the two hosts share (account, sessions, records); the routes read and change it.
        self.state = SiteState(scenario, username, password, today or datetime.date.today())
        self.slow_seconds = slow_seconds
        self.port_customer = port_customer
        self.port_login = port_login
        #: Which request gets which fault.
        self.fault_plan = FaultPlan(faults, fault_rate, fault_kinds, seed)
        self._stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        state = "running" if self._servers else "stopped"
        return f"<SimulatedSite scenario={self.scenario!r} {state} {self.home_origin or ''}>"

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "SimulatedSite":
        """Bind both hosts on 127.0.0.1 and serve them in background threads."""
        if self._servers:
            return self
        self._stopping.clear()
        ports = {"customer": self.port_customer, "login": self.port_login}
        servers: list[_Server] = []
        try:
            for label in HOSTS:
                servers.append(_Server(("127.0.0.1", ports.get(label, 0)), self, label))
        except OSError:
            for server in servers:
                server.server_close()
            raise
        self._servers = servers
        origins = {s.label: f"http://127.0.0.1:{s.server_address[1]}" for s in servers}
        self.state.home_origin = origins["customer"]
        self.state.login_origin = origins["login"]
        self.state.account_origin = origins["account"]
        self.state.api_origin = origins["api"]
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
        # All at once: each shutdown waits up to a poll interval for its serving loop.
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper, server in zip(stoppers, self._servers):
            stopper.join()
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
    def scenario(self) -> str:
        return self.state.scenario

    @property
    def username(self) -> str:
        return self.state.username

    @property
    def password(self) -> str:
        return self.state.password

    @property
    def today(self) -> datetime.date:
        """The date the usage months are built around."""
        return self.state.today

    @property
    def home_origin(self) -> str:
        """``http://127.0.0.1:C`` once started, else ``""``."""
        return self.state.home_origin

    @property
    def login_origin(self) -> str:
        """``http://127.0.0.1:L`` once started, else ``""``."""
        return self.state.login_origin

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request, in arrival order: (host "customer"|"login"|"account"|"api", method, path with query,
        headers)."""
        return self.state.requests

    @property
    def injected(self) -> list[tuple[str, str]]:
        """Every fault injected, in order: (path, kind)."""
        return self.state.injected

    @property
    def password_submissions(self) -> int:
        """How many POSTs carried a password (answered or not)."""
        return self.state.password_submissions

    @property
    def urls(self) -> dict[str, str]:
        """The site URLs, one per ``URL_KEYS`` of the client (HOME_URL, LOGIN_URL, USAGE_JSON_URL,
        SC_USAGE_JSON_URL, LEGACY_USAGE_JSON_URL, USAGE_PAGE_URL, ACCOUNT_URL, BILLING_CONTEXT_URL)."""
        if not self.home_origin:
            raise RuntimeError("the simulated site is not started")
        home = self.home_origin
        return {
            "HOME_URL": home + "/",
            "LOGIN_URL": self.login_origin + "/login",
            "USAGE_JSON_URL": f"{home}{routes.USAGE_PATH}?{routes.USAGE_QUERY}",
            "SC_USAGE_JSON_URL": self.state.api_origin + routes.SC_USAGE_PATH,
            "LEGACY_USAGE_JSON_URL": home + routes.LEGACY_USAGE_PATH,
            "USAGE_PAGE_URL": home + "/" + routes.USAGE_ROUTE,
            "ACCOUNT_URL": self.state.account_origin + routes.ACCOUNT_PATH,
            "BILLING_CONTEXT_URL": self.state.account_origin + routes.BILLING_CONTEXT_PATH,
        }

    @property
    def account_origin(self) -> str:
        """``http://127.0.0.1:A``: the new account site, once started."""
        return self.state.account_origin

    @property
    def api_origin(self) -> str:
        """``http://127.0.0.1:P``: the 2024 API host, once started."""
        return self.state.api_origin

    def expected_reading(self) -> dict:
        """What a correct client reports for this scenario: ``{"units", "used", "total"}``."""
        return data.expected_reading(self.scenario)

    def usage_json(self) -> dict:
        """The body the usage endpoints send (in scenarios that send one)."""
        return data.usage_json(self.today, self.scenario)

    def add_faults(self, *faults: Fault) -> None:
        """Inject more faults into the running site (counted from now on)."""
        for fault in faults:
            self.fault_plan.add(fault)

    def expire_sessions(self) -> None:
        """Forget every session on both hosts: the next JSON call gets 401, the next page the sign-in form."""
        self.state.expire_sessions()
