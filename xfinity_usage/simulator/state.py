"""What the two simulated hosts share: the account, the scenario, the sessions, and what was seen.

:class:`SiteState` is the one object the routes read and change; every
method is thread-safe (each host serves each request in its own thread).
"""
from __future__ import annotations

import base64
import datetime
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace

#: One request as recorded: (host "customer"|"login", method, path with query, headers).
RequestRecord = tuple[str, str, str, dict[str, str]]


@dataclass(frozen=True)
class LoginSession:
    """A session of the login host (cookie ``s_login``)."""

    token: str
    needs_check: bool
    created: float


@dataclass(frozen=True)
class CustomerSession:
    """A session of the customer host (cookie ``s_sess``) and its XSRF token (decoded)."""

    token: str
    xsrf: str
    created: float


class SiteState:
    """The simulated site's state: scenario and account, sessions of both hosts, OAuth codes, and records.

    ``home_origin`` and ``login_origin`` are set once the hosts are bound.
    """

    def __init__(self, scenario: str, username: str, password: str, today: datetime.date):
        self.scenario = scenario
        self.username = username
        self.password = password
        self.today = today
        self.home_origin = ""
        self.login_origin = ""
        #: The new account site (www.xfinity.com) and the 2024 API host (api.sc.xfinity.com).
        self.account_origin = ""
        self.api_origin = ""
        self._boots: dict[str, str] = {}
        self._bearers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._logins: dict[str, LoginSession] = {}
        self._sessions: dict[str, CustomerSession] = {}
        self._codes: dict[str, float] = {}
        #: Every request, in arrival order.
        self.requests: list[RequestRecord] = []
        #: Every fault injected, in order: (path, kind).
        self.injected: list[tuple[str, str]] = []
        #: How many POSTs carried a password (answered or not).
        self.password_submissions = 0

    # -- records ---------------------------------------------------------------------

    def record_request(self, host: str, method: str, target: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((host, method, target, headers))

    def record_fault(self, path: str, kind: str) -> None:
        with self._lock:
            self.injected.append((path, kind))

    def count_password_submission(self) -> None:
        with self._lock:
            self.password_submissions += 1

    # -- the account -----------------------------------------------------------------

    def check_credentials(self, user: str, password: str) -> bool:
        """True for the account's Xfinity ID and password (compared in constant time)."""
        good_user = hmac.compare_digest(user.encode("utf-8"), self.username.encode("utf-8"))
        good_password = hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))
        return good_user and good_password

    # -- the login host ----------------------------------------------------------------

    def new_login_session(self, needs_check: bool = False) -> str:
        """A new login-host session; its token is the ``s_login`` cookie."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._logins[token] = LoginSession(token, needs_check, time.time())
        return token

    def login_session(self, token: str | None) -> LoginSession | None:
        with self._lock:
            return self._logins.get(token or "")

    def clear_security_check(self, token: str | None) -> None:
        """The Security Check was skipped ("Ask me later") in this login session."""
        with self._lock:
            login = self._logins.get(token or "")
            if login is not None:
                self._logins[login.token] = replace(login, needs_check=False)

    def issue_code(self) -> str:
        """A one-time OAuth code for the customer host's callback."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = time.time()
        return code

    def redeem_code(self, code: str) -> bool:
        """True once per issued code."""
        with self._lock:
            return self._codes.pop(code, None) is not None

    # -- the customer host -------------------------------------------------------------

    def new_customer_session(self) -> CustomerSession:
        """A new session and its XSRF token (standard base64: it ends in ``=``, so its cookie is encoded)."""
        session = CustomerSession(secrets.token_urlsafe(32), base64.b64encode(os.urandom(16)).decode("ascii"),
                                  time.time())
        with self._lock:
            self._sessions[session.token] = session
        return session

    def customer_session(self, token: str | None) -> CustomerSession | None:
        with self._lock:
            return self._sessions.get(token or "")

    # -- the new account site: the page's own token --------------------------------------

    def new_boot(self, session: str) -> str:
        """A one-time boot code put in the account page, that its script trades for a bearer token."""
        code = secrets.token_urlsafe(18)
        with self._lock:
            self._boots[code] = session
        return code

    def redeem_boot(self, code: str, session: str) -> str | None:
        """A new bearer token for ``session``, once per boot code issued to that session; else None."""
        with self._lock:
            if self._boots.pop(code or "", None) != session or session not in self._sessions:
                return None
            bearer = secrets.token_urlsafe(32)
            self._bearers[bearer] = session
            return bearer

    def bearer_session(self, bearer: str | None) -> CustomerSession | None:
        """The session a bearer token was issued to, if both are still valid."""
        with self._lock:
            return self._sessions.get(self._bearers.get(bearer or "", ""))

    def expire_sessions(self) -> None:
        """Forget every session of every host, and every unredeemed code and token."""
        with self._lock:
            self._boots.clear()
            self._bearers.clear()
            self._sessions.clear()
            self._logins.clear()
            self._codes.clear()
