"""The simulated Xfinity app hosts on 127.0.0.1: the OAuth sign-in, the token endpoint and the GraphQL API.

Faithful to what the app's clients rely on (docs/app.rst): PKCE S256 is
checked, codes are single-use and short-lived, access tokens expire
(lifetime settable), refresh tokens rotate or are kept, and can be
revoked; the usage months come in either order, in GB or TB, limited or
unlimited. The client secret is made up at start and is only known to
this process::

    with SimulatedApp() as app:
        redirect = app.user_sign_in(authorize_url)   # what a person's browser ends on
"""
from __future__ import annotations

import base64
import calendar
import datetime
import hashlib
import html
import json
import logging
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from .server import DEMO_PASSWORD, DEMO_USERNAME

logger = logging.getLogger(__name__)

AUTHORIZE_PATH = "/xerxes-ctrl/oauth/authorize"
INTERMEDIATE_PATH = "/xerxes-jwt/oauth/code"
TOKEN_PATH = "/xerxes-ctrl/oauth/token"
GRAPHQL_PATH = "/galileo/graphql"
ENDPOINTS = {"authorize": AUTHORIZE_PATH, "token": TOKEN_PATH, "graphql": GRAPHQL_PATH}
APP_FAULT_KINDS = ("error500", "error503", "reset")
CLIENT_ID = "xfinity-android-application"
REDIRECT_URI = "xfinitydigitalhome://auth"
MONTH_ORDERS = ("newest_first", "oldest_first")
#: Current month first: (used GB, allowance GB).
MONTHS_GB = ((312.0, 1229.0), (1010.0, 1229.0), (640.5, 1229.0))


@dataclass
class _Code:
    challenge: str
    state: str
    redirect_uri: str
    issued: float
    used: bool = False


@dataclass
class AppState:
    """What the simulated app hosts know; tests read it."""

    client_secret: str
    codes: dict = field(default_factory=dict)            # oi- code -> _Code
    intermediate: dict = field(default_factory=dict)     # 0.ac. code -> (oi- code, state)
    pending: dict = field(default_factory=dict)          # tx -> authorize params
    access: dict = field(default_factory=dict)           # access token -> expires_at
    refresh: set = field(default_factory=set)            # valid refresh tokens
    requests: list = field(default_factory=list)         # (endpoint, method)
    grants: list = field(default_factory=list)           # grant_type of each token call answered 200
    refused: list = field(default_factory=list)          # (endpoint, reason)
    injected: list = field(default_factory=list)         # (endpoint, kind)
    faults: list = field(default_factory=list)           # [endpoint, kind, count left]


class SimulatedApp:
    """The app's sign-in, token and GraphQL endpoints on one 127.0.0.1 port.

    :param access_lifetime: seconds an access token lives (``expires_in``; the app's is 3599).
    :param code_lifetime: seconds a sign-in code can be traded.
    :param rotate: give a new refresh token on each refresh (the old one stops working).
    :param months_order: ``newest_first`` or ``oldest_first``.
    :param units: ``GB`` or ``TB``.
    :param unlimited: the plan has no cap.
    :param answer: ``normal``, or ``no_usage`` (the API answers without the usage).
    :param clock: the server's time (tests move it).
    """

    def __init__(self, *, access_lifetime: float = 3599, code_lifetime: float = 60, rotate: bool = True,
                 months_order: str = "newest_first", units: str = "GB", unlimited: bool = False,
                 answer: str = "normal", today: datetime.date | None = None,
                 clock: Callable[[], float] = time.time, username: str = DEMO_USERNAME,
                 password: str = DEMO_PASSWORD, port: int = 0):
        if months_order not in MONTH_ORDERS:
            raise ValueError(f"months_order must be one of {MONTH_ORDERS}")
        if units not in ("GB", "TB"):
            raise ValueError("units must be GB or TB")
        self.access_lifetime = access_lifetime
        self.code_lifetime = code_lifetime
        self.rotate = rotate
        self.months_order = months_order
        self.units = units
        self.unlimited = unlimited
        self.answer = answer
        self.today = today or datetime.date.today()
        self.clock = clock
        self.username = username
        self.password = password
        self.port = port
        #: Made up at start; only this process and the client it is given to know it.
        self.state = AppState(client_secret=secrets.token_urlsafe(24))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "SimulatedApp":
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), self)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="simulated-app", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server, self._thread = None, None

    def __enter__(self) -> "SimulatedApp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what clients and tests use ------------------------------------------

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulated app is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def urls(self) -> dict[str, str]:
        """``APP_AUTHORIZE_URL``, ``APP_TOKEN_URL`` and ``APP_GRAPHQL_URL``."""
        return {"APP_AUTHORIZE_URL": self.origin + AUTHORIZE_PATH, "APP_TOKEN_URL": self.origin + TOKEN_PATH,
                "APP_GRAPHQL_URL": self.origin + GRAPHQL_PATH}

    def add_fault(self, endpoint: str, kind: str, count: int = 1) -> None:
        """The next ``count`` requests to ``endpoint`` (authorize, token, graphql) get ``kind``."""
        if endpoint not in ENDPOINTS or kind not in APP_FAULT_KINDS:
            raise ValueError(f"unknown fault {endpoint}/{kind}")
        with self._lock:
            self.state.faults.append([endpoint, kind, count])

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token stops working (the next refresh answers 400 invalid_grant)."""
        with self._lock:
            self.state.refresh.clear()

    def expire_access_tokens(self) -> None:
        """Every access token stops working now (the API answers 401), whatever the client thinks."""
        with self._lock:
            self.state.access.clear()

    def requests_to(self, endpoint: str) -> int:
        return sum(1 for name, _ in self.state.requests if name == endpoint)

    def user_sign_in(self, authorize_url: str, username: str | None = None, password: str | None = None,
                     timeout: float = 10.0) -> str:
        """What a person does in the browser: open the URL, sign in, follow the redirects.

        Returns the ``xfinitydigitalhome://auth?code=...&state=...`` address the browser ends on.
        """
        import urllib3

        http = urllib3.PoolManager(retries=False, timeout=timeout)
        page = http.request("GET", authorize_url, redirect=False)
        if page.status != 200:
            raise RuntimeError(f"authorize answered HTTP {page.status}")
        tx = page.data.decode().split('name="tx" value="', 1)[1].split('"', 1)[0]
        form = {"tx": tx, "user": username or self.username, "passwd": password or self.password}
        resp = http.request("POST", self.origin + AUTHORIZE_PATH, body=urlencode(form),
                            headers={"Content-Type": "application/x-www-form-urlencoded"}, redirect=False)
        location = resp.headers.get("Location", "")
        if resp.status != 302:
            raise RuntimeError(f"sign-in answered HTTP {resp.status}")
        resp = http.request("GET", self.origin + location if location.startswith("/") else location, redirect=False)
        return resp.headers["Location"]

    def usage_months(self) -> list[dict]:
        """The ``monthlyUsage`` list the API sends, in :attr:`months_order`."""
        months = []
        start = self.today.replace(day=1)
        for index, (used, allowance) in enumerate(MONTHS_GB):
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
            scale = 1024.0 if self.units == "TB" else 1.0  # the project counts in 1024s (reading.UNIT_BYTES)
            months.append({
                "policy": "unlimited" if self.unlimited else "limited",
                "month": start.month, "year": start.year,
                "startDate": start.isoformat(), "endDate": end.isoformat(),
                "daysRemaining": max(0, (end - self.today).days) if index == 0 else 0,
                "currentUsage": {"value": used / scale, "unit": self.units},
                "allowableUsage": {"value": 0 if self.unlimited else allowance / scale, "unit": self.units},
                "overage": False, "overageCharge": 0, "maximumOverageCharge": 100, "courtesyCredit": False,
            })
            start = (start - datetime.timedelta(days=1)).replace(day=1)
        return months if self.months_order == "newest_first" else list(reversed(months))

    def usage_answer(self) -> dict:
        usage: Any = None if self.answer == "no_usage" else {
            "inPaidOverage": False,
            "courtesy": {"totalAllowableCourtesy": 1, "usedCourtesy": 0, "remainingCourtesy": 1},
            "monthlyUsage": self.usage_months()}
        return {"data": {"accountByServiceAccountId": {"internet": {
            "plan": {"name": "Gigabit", "downloadSpeed": {"unit": "Mbps", "value": 1000},
                     "uploadSpeed": {"unit": "Mbps", "value": 35}},
            "usage": usage}}}}

    def expected_reading(self) -> dict:
        """``{"units", "used", "total"}`` a correct client reports (GB)."""
        used, allowance = MONTHS_GB[0]
        return {"units": "GB", "used": used, "total": None if self.unlimited else allowance}

    # -- the endpoints -------------------------------------------------------

    def _fault(self, endpoint: str) -> str | None:
        with self._lock:
            for entry in self.state.faults:
                if entry[0] == endpoint and entry[2] > 0:
                    entry[2] -= 1
                    self.state.injected.append((endpoint, entry[1]))
                    return entry[1]
        return None

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes] | None:
        """(status, headers, body) of one request; None to reset the connection."""
        parts = urlsplit(path)
        endpoint = next((name for name, p in ENDPOINTS.items() if p == parts.path), None)
        if endpoint is None and parts.path == INTERMEDIATE_PATH:
            endpoint = "authorize"
        with self._lock:
            self.state.requests.append((endpoint or parts.path, method))
        if endpoint is None:
            return _json(404, {"error": "not_found"})
        kind = self._fault(endpoint)
        if kind == "reset":
            return None
        if kind in ("error500", "error503"):
            return 500 if kind == "error500" else 503, {"Content-Type": "text/html"}, b"<h1>Service Unavailable</h1>"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()} if body else {}
        if parts.path == INTERMEDIATE_PATH:
            return self._intermediate(query)
        if endpoint == "authorize":
            return self._authorize_page(query) if method == "GET" else self._authorize_post(form)
        if endpoint == "token" and method == "POST":
            return self._token(form)
        if endpoint == "graphql" and method == "POST":
            return self._graphql({k.lower(): v for k, v in headers.items()}, body)
        return _json(405, {"error": "method_not_allowed"})

    def _refuse(self, endpoint: str, reason: str) -> None:
        with self._lock:
            self.state.refused.append((endpoint, reason))

    def _authorize_page(self, q: dict) -> tuple[int, dict, bytes]:
        wanted = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
                  "scope": "profile", "code_challenge_method": "S256", "prompt": "select_account",
                  "partner_id": "comcast"}
        wrong = [key for key, value in wanted.items() if q.get(key) != value]
        wrong += [key for key in ("state", "code_challenge", "activity_id") if not q.get(key)]
        if wrong:
            self._refuse("authorize", "bad parameters: " + ", ".join(wrong))
            return 400, {"Content-Type": "text/html"}, f"<h1>Bad request: {', '.join(wrong)}</h1>".encode()
        tx = secrets.token_hex(8)
        with self._lock:
            self.state.pending[tx] = dict(q)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, _sign_in_page(tx).encode()

    def _authorize_post(self, form: dict) -> tuple[int, dict, bytes]:
        with self._lock:
            params = self.state.pending.get(form.get("tx", ""))
        if params is None:
            return 400, {"Content-Type": "text/html"}, b"<h1>This sign-in has expired; start again</h1>"
        if form.get("user") != self.username or form.get("passwd") != self.password:
            self._refuse("authorize", "bad credentials")
            return 200, {"Content-Type": "text/html; charset=utf-8"}, _sign_in_page(
                form.get("tx", ""), "The Xfinity ID or password you entered was incorrect.").encode()
        code = "oi-" + secrets.token_hex(16)
        intermediate = "0.ac." + secrets.token_urlsafe(18)
        with self._lock:
            del self.state.pending[form["tx"]]
            self.state.codes[code] = _Code(params["code_challenge"], params["state"], params["redirect_uri"],
                                           self.clock())
            self.state.intermediate[intermediate] = (code, params["state"])
        return 302, {"Location": f"{INTERMEDIATE_PATH}?{urlencode({'code': intermediate})}"}, b""

    def _intermediate(self, q: dict) -> tuple[int, dict, bytes]:
        with self._lock:
            found = self.state.intermediate.pop(q.get("code", ""), None)
        if found is None:
            return 400, {"Content-Type": "text/html"}, b"<h1>Unknown or used code</h1>"
        code, state = found
        return 302, {"Location": f"{REDIRECT_URI}?{urlencode({'code': code, 'state': state})}"}, b""

    def _token(self, form: dict) -> tuple[int, dict, bytes]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            self._refuse("token", "invalid_client")
            return _json(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        now = self.clock()
        with self._lock:
            if grant == "authorization_code":
                record = self.state.codes.get(form.get("code", ""))
                reason = None
                if record is None or record.used:
                    reason = "code unknown or used"
                elif now - record.issued > self.code_lifetime:
                    reason = "code expired"
                elif form.get("redirect_uri") != record.redirect_uri:
                    reason = "redirect_uri differs"
                elif _challenge(form.get("code_verifier", "")) != record.challenge:
                    reason = "PKCE verifier does not match"
                if record is not None:
                    record.used = True
                if reason:
                    self.state.refused.append(("token", reason))
                    return _json(400, {"error": "invalid_grant", "error_description": reason})
            elif grant == "refresh_token":
                old = form.get("refresh_token", "")
                if old not in self.state.refresh:
                    self.state.refused.append(("token", "refresh token unknown or revoked"))
                    return _json(400, {"error": "invalid_grant"})
                if self.rotate:
                    self.state.refresh.discard(old)
            else:
                return _json(400, {"error": "unsupported_grant_type"})
            access = "at-" + secrets.token_hex(20)
            refresh = "rt-" + secrets.token_hex(20) if grant == "authorization_code" or self.rotate else old
            self.state.access[access] = now + self.access_lifetime
            self.state.refresh.add(refresh)
            self.state.grants.append(grant)
        return _json(200, {"access_token": access, "refresh_token": refresh, "id_token": self._id_token(now),
                           "token_type": "Bearer", "expires_in": int(self.access_lifetime),
                           "scope": "profile", "activity_id": form.get("activity_id", "")})

    def _id_token(self, now: float) -> str:
        def part(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        claims = {"iss": "xerxeslite-sim", "aud": CLIENT_ID, "exp": int(now + self.access_lifetime),
                  "iat": int(now), "cust_guid": "sim-" + secrets.token_hex(4)}
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sim"

    def _graphql(self, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        token = headers.get("authorization", "")
        with self._lock:
            expires = self.state.access.get(token[7:]) if token.startswith("Bearer ") else None
        if expires is None or self.clock() >= expires:
            self._refuse("graphql", "access token missing, unknown or expired")
            return _json(401, {"errors": [{"message": "Unauthorized"}]})
        if not headers.get("x-id-token") or headers.get("client") != "digital-home-android" \
                or headers.get("x-apollo-operation-name") != "InternetDataUsage":
            self._refuse("graphql", "missing app headers")
            return _json(400, {"errors": [{"message": "missing headers"}]})
        try:
            request = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _json(400, {"errors": [{"message": "body is not JSON"}]})
        if not isinstance(request, dict) or "monthlyUsage" not in str(request.get("query", "")):
            return _json(400, {"errors": [{"message": "unknown query"}]})
        return _json(200, self.usage_answer())


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _json(status: int, data: Any) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def _sign_in_page(tx: str, error: str = "") -> str:
    message = f'<p id="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html><head><title>Sign in to Xfinity</title></head>
<body><h1>Sign in with your Xfinity ID</h1>{message}
<form method="post" action="{AUTHORIZE_PATH}">
<input type="hidden" name="tx" value="{html.escape(tx)}">
<label>Xfinity ID <input id="user" name="user" type="text" autocomplete="username"></label>
<label>Password <input id="passwd" name="passwd" type="password" autocomplete="current-password"></label>
<button id="sign_in" type="submit">Sign in</button>
</form></body></html>"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], app: SimulatedApp):
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        logger.debug("simulated app: error while handling a request", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SimulatedXfinityApp/1.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        body = b""
        if method == "POST":
            try:
                length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
            except ValueError:
                length = 0
            body = self.rfile.read(length) if length > 0 else b""
        try:
            answer = self.server.app.handle(method, self.path, dict(self.headers.items()), body)
        except Exception:  # noqa: BLE001 - a bug here must not hang the client
            logger.exception("simulated app failed on %s", self.path)
            answer = _json(500, {"error": "server_error"})
        if answer is None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        status, headers, data = answer
        self.send_response(status)
        for name, value in {"Content-Length": str(len(data)), "Cache-Control": "no-store", **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


__all__ = ["APP_FAULT_KINDS", "ENDPOINTS", "SimulatedApp"]
