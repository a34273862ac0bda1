"""The simulated Xfinity app hosts on 127.0.0.1: the OAuth sign-in, the token endpoint and the GraphQL API.

Faithful to the real service as its public clients show it (docs/app.rst;
thor0215/hassio-xfinity-usage and csobrinho/xfinity-usage): PKCE S256 is
checked; codes are single-use and short-lived, and an expired or used one
is refused with 400 ``invalid_request``; the ``redirect_uri`` is compared
after decoding; the id_token is an RS256 JWT whose header names its key
(``kid``) and the key set (``jku``, served here); access tokens expire
(lifetime settable); the refresh token is kept on refresh (rotation is an
option) and can be revoked; the usage comes in the API's mixed units
(``353 GB`` used of ``1.23 TB``), months in either order, limited or
unlimited, with the overage terms. Faults: 5xx, resets, 429 with
``Retry-After``, and GraphQL errors on HTTP 200. The client secret is made
up at start and is only known to this process::

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
import math
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .server import DEMO_PASSWORD, DEMO_USERNAME

logger = logging.getLogger(__name__)

AUTHORIZE_PATH = "/xerxes-ctrl/oauth/authorize"
INTERMEDIATE_PATH = "/xerxes-jwt/oauth/code"
TOKEN_PATH = "/xerxes-ctrl/oauth/token"
GRAPHQL_PATH = "/galileo/graphql"
#: The key set the id_token's ``jku`` names (thor0215 xfinity_token.py, ``_OAUTH_JWKS_URL``).
JWKS_PATH = "/xerxes-ctrl/keys/jwks"
ENDPOINTS = {"authorize": AUTHORIZE_PATH, "token": TOKEN_PATH, "graphql": GRAPHQL_PATH, "jwks": JWKS_PATH}
#: ``error429`` answers 429 with ``Retry-After`` (:attr:`SimulatedApp.retry_after`);
#: ``unauthenticated`` and ``graphql_error`` answer HTTP 200 with a GraphQL ``errors`` list.
APP_FAULT_KINDS = ("error500", "error503", "reset", "error429", "unauthenticated", "graphql_error")
#: The id_token's issuer, as thor0215's client checks it (xfinity_token.py ``oauth_update_tokens``).
ISSUER = "xerxeslite-prod"
#: The app's persisted-query id of InternetDataUsage (thor0215 xfinity_graphql.py, csobrinho usage.go).
OPERATION_ID = "61994c6016ac8c0ebcca875084919e5e01cb3b116a86aaf9646e597c3a1fbd06"
CLIENT_ID = "xfinity-android-application"
REDIRECT_URI = "xfinitydigitalhome://auth"
MONTH_ORDERS = ("newest_first", "oldest_first")
#: ``mixed`` is the real answer: ``currentUsage`` in GB, ``allowableUsage`` in TB (thor0215
#: xfinity_graphql.py's sample month: 558 GB of 1.23 TB).
UNIT_CHOICES = ("mixed", "GB", "TB")
#: Current month first: used GB. The API counts in 1000s: its TB is 1000 GB.
MONTHS_USED_GB = (353.0, 1010.0, 640.0)
#: The 1.2 TB plan: the website's 1229 GB, which the API rounds to 1.23 TB, i.e. 1230 GB.
ALLOWANCE_GB = 1230.0
API_UNIT_GB = {"GB": 1.0, "TB": 1000.0}


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
    graphql_headers: dict = field(default_factory=dict)  # the last GraphQL request's headers (lower-case)


class SimulatedApp:
    """The app's sign-in, token and GraphQL endpoints on one 127.0.0.1 port.

    :param access_lifetime: seconds an access token lives (``expires_in``; the app's is 3599).
    :param code_lifetime: seconds a sign-in code can be traded.
    :param rotate: give a new refresh token on each refresh (the old one stops working). The real
        service keeps it (thor0215 issue #65: the refresh answer's ``refresh_token`` is "same as always").
    :param months_order: ``newest_first`` or ``oldest_first``.
    :param units: ``mixed`` (the real answer: used in GB, allowance in TB), ``GB`` or ``TB``.
    :param unlimited: the plan has no cap.
    :param used: this month's usage in GB; above the allowance the month is in overage.
    :param courtesy_used: courtesy months used of the one the plan allows; with one left, an
        overage month is forgiven (``courtesyCredit``) instead of charged.
    :param answer: ``normal``, or ``no_usage`` (the API answers without the usage).
    :param clock: the server's time (tests move it).
    """

    def __init__(self, *, access_lifetime: float = 3599, code_lifetime: float = 60, rotate: bool = False,
                 months_order: str = "newest_first", units: str = "mixed", unlimited: bool = False,
                 used: float = MONTHS_USED_GB[0], courtesy_used: int = 0,
                 answer: str = "normal", today: datetime.date | None = None,
                 clock: Callable[[], float] = time.time, username: str = DEMO_USERNAME,
                 password: str = DEMO_PASSWORD, port: int = 0):
        if months_order not in MONTH_ORDERS:
            raise ValueError(f"months_order must be one of {MONTH_ORDERS}")
        if units not in UNIT_CHOICES:
            raise ValueError(f"units must be one of {UNIT_CHOICES}")
        self.access_lifetime = access_lifetime
        self.code_lifetime = code_lifetime
        self.rotate = rotate
        self.months_order = months_order
        self.units = units
        self.unlimited = unlimited
        self.used = used
        self.courtesy_used = courtesy_used
        #: Seconds a 429 fault asks the client to wait (``Retry-After``).
        self.retry_after = 1
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
        """The next ``count`` requests to ``endpoint`` (authorize, token, graphql, jwks) get ``kind``."""
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
        """The ``monthlyUsage`` list the API sends, in :attr:`months_order` and :attr:`units`.

        The fields are those of thor0215's and csobrinho's sample answers,
        with the overage terms: ``overage`` (bool), ``overageCharge`` and
        ``maximumOverageCharge`` (dollars: $10 a 50 GB block, at most $100, as
        in thor0215 ``tests/const.py``) and ``courtesyCredit``.
        """
        months = []
        start = self.today.replace(day=1)
        for index, used in enumerate((self.used, *MONTHS_USED_GB[1:])):
            end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
            over = 0.0 if self.unlimited else max(0.0, used - ALLOWANCE_GB)
            forgiven = bool(over) and self.courtesy_used < 1
            months.append({
                "policy": "unlimited" if self.unlimited else "limited",
                "month": start.month, "year": start.year,
                "startDate": start.isoformat(), "endDate": end.isoformat(),
                "daysRemaining": max(0, (end - self.today).days) if index == 0 else 0,
                "currentUsage": self._amount(used, "GB" if self.units == "mixed" else self.units),
                "allowableUsage": self._amount(0 if self.unlimited else ALLOWANCE_GB,
                                               "TB" if self.units == "mixed" else self.units),
                "overage": bool(over), "overageCharge": 0 if forgiven else min(100, 10 * math.ceil(over / 50)),
                "maximumOverageCharge": 100, "courtesyCredit": forgiven,
            })
            start = (start - datetime.timedelta(days=1)).replace(day=1)
        return months if self.months_order == "newest_first" else list(reversed(months))

    @staticmethod
    def _amount(gb: float, unit: str) -> dict:
        value = round(gb / API_UNIT_GB[unit], 3)  # 1230 GB is 1.23 TB
        return {"value": int(value) if float(value).is_integer() else value, "unit": unit}

    def usage_answer(self) -> dict:
        usage: Any = None if self.answer == "no_usage" else {
            "inPaidOverage": False,
            "courtesy": {"totalAllowableCourtesy": 1, "usedCourtesy": self.courtesy_used,
                         "remainingCourtesy": max(0, 1 - self.courtesy_used)},
            "monthlyUsage": self.usage_months()}
        return {"data": {"accountByServiceAccountId": {"internet": {
            "plan": {"name": "Gigabit", "downloadSpeed": {"unit": "Mbps", "value": 1000},
                     "uploadSpeed": {"unit": "Mbps", "value": 35}},
            "usage": usage}}}}

    def expected_reading(self) -> dict:
        """``{"units", "used", "total"}`` a correct client reports (GB, counting in 1000s as the API does)."""
        return {"units": "GB", "used": self.used, "total": None if self.unlimited else ALLOWANCE_GB}

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
        if kind == "error429":
            return 429, {"Content-Type": "text/html", "Retry-After": str(self.retry_after)}, b"<h1>Too Many Requests</h1>"
        if kind == "unauthenticated":
            return _json(200, graphql_error("Unauthorized", "UNAUTHENTICATED", []))
        if kind == "graphql_error":
            return _json(200, graphql_error("Internet Product Mapping Not Found.", "NOT_FOUND",
                                            ["accountByServiceAccountId", "internet", "usage"]))
        if endpoint == "jwks":
            return _json(200, {"keys": [_signing_key().jwk()]}) if method == "GET" else _json(405, {})
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
        wrong = [key for key, value in wanted.items() if _decoded(q.get(key, "")) != value]
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
                reason = error = None
                if record is None or record.used or now - record.issued > self.code_lifetime:
                    # thor0215 issue #82: an expired (or used) code is a 400 invalid_request.
                    reason = "code expired" if record and not record.used else "code unknown or used"
                    error = "invalid_request"
                elif _decoded(form.get("redirect_uri", "")) != _decoded(record.redirect_uri):
                    # Compared after decoding: thor0215 sends it already percent-encoded, so it
                    # arrives encoded twice, and the real service accepts it.
                    reason, error = "redirect_uri differs", "invalid_grant"
                elif _challenge(form.get("code_verifier", "")) != record.challenge:
                    reason, error = "PKCE verifier does not match", "invalid_grant"
                if record is not None:
                    record.used = True
                if reason:
                    self.state.refused.append(("token", reason))
                    description = "bad request 400" if error == "invalid_request" else reason
                    return _json(400, {"error_description": description, "activity_id": form.get("activity_id", ""),
                                       "error": error})
            elif grant == "refresh_token":
                old = form.get("refresh_token", "")
                if old not in self.state.refresh:
                    self.state.refused.append(("token", "refresh token unknown or revoked"))
                    # thor0215 issue #165: the real answer to a revoked refresh token.
                    return _json(400, {"error": "invalid_grant",
                                       "error_description": "idp error: Invalid refresh token: ********",
                                       "activity_id": "oidc-" + secrets.token_hex(8)})
                if self.rotate:
                    self.state.refresh.discard(old)
            else:
                return _json(400, {"error": "unsupported_grant_type"})
            access = "at-" + secrets.token_hex(20)
            refresh = "rt-" + secrets.token_hex(20) if grant == "authorization_code" or self.rotate else old
            self.state.access[access] = now + self.access_lifetime
            self.state.refresh.add(refresh)
            self.state.grants.append(grant)
        return _json(200, {"access_token": access, "refresh_token": refresh, "id_token": self.id_token(now),
                           "token_type": "Bearer", "expires_in": int(self.access_lifetime),
                           "scope": "profile", "activity_id": form.get("activity_id", "")})

    def id_token(self, now: float) -> str:
        """An RS256 JWT like the real one: its header names the key (``kid``) and where the key set
        is (``jku``), which thor0215's client reads to verify it; the claims have ``exp``, ``iat``
        and those that client requires (``iss``, ``aud``, ``cust_guid``)."""
        key = _signing_key()
        header = {"alg": "RS256", "typ": "JWT", "kid": key.kid, "jku": self.origin + JWKS_PATH}
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "exp": int(now + self.access_lifetime),
                  "iat": int(now), "cust_guid": "sim-" + secrets.token_hex(4)}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"

    def _graphql(self, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        with self._lock:
            self.state.graphql_headers = dict(headers)
        token = headers.get("authorization", "")
        with self._lock:
            expires = self.state.access.get(token[7:]) if token.startswith("Bearer ") else None
        if expires is None or self.clock() >= expires:
            self._refuse("graphql", "access token missing, unknown or expired")
            return _json(401, {"errors": [{"message": "Unauthorized"}]})
        if not headers.get("x-id-token") or headers.get("client") != "digital-home-android" \
                or headers.get("x-apollo-operation-name") != "InternetDataUsage" \
                or headers.get("x-apollo-operation-id") != OPERATION_ID:
            self._refuse("graphql", "missing app headers")
            return _json(400, {"errors": [{"message": "missing headers"}]})
        try:
            request = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _json(400, {"errors": [{"message": "body is not JSON"}]})
        if not isinstance(request, dict) or "monthlyUsage" not in str(request.get("query", "")):
            return _json(400, {"errors": [{"message": "unknown query"}]})
        return _json(200, self.usage_answer())


def graphql_error(message: str, code: str, path: list) -> dict:
    """A GraphQL error answer (HTTP 200) shaped like the real gateway's (thor0215 issue #70)."""
    return {"errors": [{"message": message, "path": path,
                        "extensions": {"code": code, "retry": False, "serviceName": "ConvoySubgraph"}}],
            "data": None}


def _decoded(uri: str) -> str:
    """``uri`` percent-decoded until it no longer changes (at most a few times)."""
    for _ in range(4):
        decoded = unquote(uri)
        if decoded == uri:
            break
        uri = decoded
    return uri


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class _RsaKey:
    """A small RSA key for the simulated id_tokens (RS256, PKCS#1 v1.5), made once per process.

    1024 bits, made with the standard library only: enough for clients
    that verify the signature against the served key set; not for
    anything real.
    """

    #: DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2, note 1).
    SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

    def __init__(self, bits: int = 1024):
        self.e = 65537
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            phi = (p - 1) * (q - 1)
            if p != q and math.gcd(self.e, phi) == 1:
                break
        self.n, self.d = p * q, pow(self.e, -1, phi)
        self.size = (self.n.bit_length() + 7) // 8
        self.kid = hashlib.sha256(self.n.to_bytes(self.size, "big")).hexdigest()[:16]

    def sign(self, data: bytes) -> bytes:
        digest = self.SHA256_PREFIX + hashlib.sha256(data).digest()
        padded = b"\x00\x01" + b"\xff" * (self.size - len(digest) - 3) + b"\x00" + digest
        return pow(int.from_bytes(padded, "big"), self.d, self.n).to_bytes(self.size, "big")

    def jwk(self) -> dict:
        def number(value: int) -> str:
            return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": number(self.n), "e": number(self.e)}


_KEY: list[_RsaKey] = []
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]


def _signing_key() -> _RsaKey:
    with _KEY_LOCK:
        if not _KEY:
            _KEY.append(_RsaKey())
        return _KEY[0]


_KEY_LOCK = threading.Lock()


def _prime(bits: int) -> int:
    """A random prime of ``bits`` bits (Miller-Rabin, 40 rounds)."""
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if any(candidate % p == 0 for p in _SMALL_PRIMES):
            continue
        d, r = candidate - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):
            x = pow(secrets.randbelow(candidate - 3) + 2, d, candidate)
            if x in (1, candidate - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, candidate)
                if x == candidate - 1:
                    break
            else:
                break
        else:
            return candidate


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


__all__ = ["APP_FAULT_KINDS", "ENDPOINTS", "SimulatedApp", "graphql_error"]
