"""The Xfinity app's OAuth sign-in: PKCE, the authorize URL, what people paste back, and the token calls.

The app signs in at ``xerxes-sub.xerxessecure.com`` with the authorization
code flow and PKCE (S256). After the sign-in the server redirects to
``xfinitydigitalhome://auth?code=oi-...&state=...``; the code is short-lived
and single-use. The ``0.ac....`` value some pages show in the address bar
is an intermediate code that the token endpoint refuses.

Nothing here prints, logs a secret or reads the environment; no error
message carries a code, a token or the client secret.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import string
import time
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import ConfigError, SignInExpiredError, SiteChangedError, SiteUnavailableError
from ..transport import retry_after

logger = logging.getLogger(__name__)

AUTHORIZE_URL = "https://xerxes-sub.xerxessecure.com/xerxes-ctrl/oauth/authorize"
TOKEN_URL = "https://xerxes-sub.xerxessecure.com/xerxes-ctrl/oauth/token"
GRAPHQL_URL = "https://gw.api.dh.comcast.com/galileo/graphql"
#: The app URLs, by the keys ``--site-urls`` (and ``XfinityUsage(urls=...)``) override them with.
APP_URLS = {"APP_AUTHORIZE_URL": AUTHORIZE_URL, "APP_TOKEN_URL": TOKEN_URL, "APP_GRAPHQL_URL": GRAPHQL_URL}
CLIENT_ID = "xfinity-android-application"
REDIRECT_URI = "xfinitydigitalhome://auth"
#: The hint parameters the app sends with the authorize and token requests.
HINTS = {"active_x1_account_count": "true", "rm_hint": "true", "partner_id": "comcast",
         "mso_partner_hint": "true"}
TOKEN_USER_AGENT = "Dalvik/2.1.0 (Linux; U; Android 14; SM-G991B Build/G991BXXUEGXJE)"


class SignInInputError(ConfigError):
    """What was pasted back after the sign-in is not a usable redirect or code."""

    label = "sign-in"


@dataclasses.dataclass(frozen=True)
class PendingSignIn:
    """One sign-in attempt: the PKCE verifier (secret) and what goes into the authorize URL."""

    verifier: str
    state: str
    activity_id: str

    @property
    def challenge(self) -> str:
        """``BASE64URL(SHA256(verifier))`` without padding (RFC 7636, S256)."""
        return code_challenge(self.verifier)

    def __repr__(self) -> str:
        return f"PendingSignIn(state={self.state!r})"


def code_challenge(verifier: str) -> str:
    import hashlib  # sign-in only: not on every run's path

    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def new_sign_in() -> PendingSignIn:
    """A fresh verifier (43 characters, 256 random bits), state and activity id."""
    import secrets  # sign-in only: not on every run's path (uuid imports platform)
    import uuid

    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    alphabet = string.ascii_letters + string.digits
    state = "".join(secrets.choice(alphabet) for _ in range(22))
    return PendingSignIn(verifier=verifier, state=state, activity_id=str(uuid.uuid4()))


def authorize_url(pending: PendingSignIn, base: str = AUTHORIZE_URL) -> str:
    """The URL the person opens to sign in."""
    params = {"redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID, "response_type": "code",
              "prompt": "select_account", "state": pending.state, "scope": "profile",
              "code_challenge": pending.challenge, "code_challenge_method": "S256",
              "activity_id": pending.activity_id, **HINTS}
    return f"{base}?{urlencode(params)}"


_QUOTES = "\"'`<>"
_CODE_CHARS = set(string.ascii_letters + string.digits + "-._~")


def parse_redirect(text: str, expected_state: str | None) -> str:
    """The authorization code in what the person pasted.

    Accepts the whole ``xfinitydigitalhome://auth?code=...&state=...`` URL,
    the code alone, the code followed by ``&state=...``, each with
    surrounding whitespace or quotes. Rejects (:class:`SignInInputError`)
    the ``0.ac.`` intermediate code, a code without its ``oi-`` prefix and
    a state that is not this sign-in's. The messages never repeat the code.
    """
    value = (text or "").strip()
    while value and value[0] in _QUOTES and value[-1] in _QUOTES:
        value = value[1:-1].strip()
    if not value:
        raise SignInInputError("nothing was pasted: paste the xfinitydigitalhome://auth?code=... address "
                               "or the code (oi-...)")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() != "xfinitydigitalhome":
            raise SignInInputError(
                f"the pasted address is a {parts.scheme}:// page, not the app's redirect: paste the "
                "xfinitydigitalhome://auth?code=oi-... address (or the oi- code alone)")
        query = parse_qs(parts.query)
    elif value.startswith("?") or value.startswith("code="):
        query = parse_qs(value.lstrip("?"))
    else:
        code, _, rest = value.partition("&")
        query = parse_qs(rest)
        query["code"] = [code]
    if "error" in query:
        raise SignInInputError(f"the sign-in was refused ({query['error'][0][:60]}); run --app-sign-in again")
    codes = query.get("code") or [""]
    code = codes[0].strip()
    if code.startswith("0.ac."):
        raise SignInInputError(
            "that is the intermediate 0.ac. code from the address bar, which does not work: "
            "paste the final xfinitydigitalhome://auth?code=oi-... address")
    if not code:
        raise SignInInputError("the pasted address has no code: paste the xfinitydigitalhome://auth?code=oi-... "
                               "address")
    if not code.startswith("oi-") or len(code) < 8 or not set(code) <= _CODE_CHARS:
        raise SignInInputError("the pasted value is not an app sign-in code (those start with oi-): paste the "
                               "final xfinitydigitalhome://auth?code=oi-... address")
    states = query.get("state")
    if states and expected_state is not None and states[0] != expected_state:
        raise SignInInputError("the pasted address is from another sign-in (its state does not match): "
                               "paste the address this sign-in ended on, or run --app-sign-in again")
    return code


@dataclasses.dataclass
class Tokens:
    """The tokens of one signed-in app session; ``expires_at`` is the access token's epoch expiry."""

    access_token: str
    refresh_token: str
    id_token: str
    expires_at: float
    activity_id: str = ""

    def __repr__(self) -> str:
        return f"Tokens(expires_at={self.expires_at:.0f})"

    def valid_for(self, now: float, margin: float = 300.0) -> bool:
        """True while the access token has more than ``margin`` seconds left."""
        return bool(self.access_token) and now < self.expires_at - margin


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without checking the signature; None if absent."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
    except (IndexError, ValueError, AttributeError, TypeError):
        return None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def tokens_from_answer(answer: Any, now: float, previous: Tokens | None = None) -> Tokens:
    """Check a token endpoint answer and turn it into :class:`Tokens`.

    A refresh answer may leave out the refresh token (no rotation): the
    previous one is kept then.
    """
    if not isinstance(answer, dict):
        raise SiteChangedError("the app's token endpoint sent no JSON object")
    missing = [key for key in ("access_token", "id_token") if not isinstance(answer.get(key), str)
               or not answer.get(key)]
    refresh = answer.get("refresh_token") or (previous.refresh_token if previous else None)
    if not isinstance(refresh, str) or not refresh:
        missing.append("refresh_token")
    if missing:
        raise SiteChangedError(f"the app's token answer has no {', '.join(missing)}")
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = now + float(expires_in)
    else:
        expires_at = jwt_expiry(answer["id_token"]) or now
    return Tokens(access_token=answer["access_token"], refresh_token=str(refresh), id_token=answer["id_token"],
                  expires_at=expires_at,
                  activity_id=str(answer.get("activity_id") or (previous.activity_id if previous else "")))


Post = Callable[[str, Mapping[str, str], bytes, float], "tuple[int, bytes]"]

#: What the person is told when the token endpoint refuses the sign-in code: the real service
#: answers an expired or used code with 400 ``invalid_request`` (thor0215/hassio-xfinity-usage
#: issue #82: ``{"error_description": "bad request 400", "error": "invalid_request", ...}``).
CODE_REFUSED = "the sign-in code expired or was already used; sign in again (--app-sign-in)"


class RetryLater(SiteUnavailableError):
    """The service answered 429 or 5xx; ``retry_after`` is its ``Retry-After`` in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TokenEndpoint:
    """The token endpoint, over an HTTP ``post(url, headers, body, timeout) -> (status, body)``.

    ``post`` raises :class:`SiteUnavailableError` on a reset or timeout.
    A 5xx answer raises it too (the caller retries); ``invalid_grant``
    raises :class:`SignInExpiredError`.
    """

    def __init__(self, url: str, client_secret: str, post: Post, clock: Callable[[], float] = time.time):
        self.url = url
        self._secret = client_secret
        self._post = post
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.url!r})"

    def exchange(self, code: str, pending: PendingSignIn, timeout: float) -> Tokens:
        """Trade the authorization code for tokens."""
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": pending.verifier,
                "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID, "client_secret": self._secret,
                "activity_id": pending.activity_id, "scope": "profile", **HINTS}
        tokens = tokens_from_answer(self._call(form, timeout, "the sign-in code"), self._clock())
        if not tokens.activity_id:
            tokens.activity_id = pending.activity_id
        return tokens

    def refresh(self, tokens: Tokens, timeout: float) -> Tokens:
        """New tokens for the refresh token (which the server may rotate)."""
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": CLIENT_ID,
                "client_secret": self._secret, "scope": "profile", **HINTS}
        return tokens_from_answer(self._call(form, timeout, "the saved app sign-in"), self._clock(), tokens)

    def _call(self, form: Mapping[str, str], timeout: float, what: str) -> Any:
        # The token call's headers, as both peers send them (thor0215 xfinity_token.py
        # _OAUTH_TOKEN_EXTRA_HEADERS; csobrinho token.go tokenExtraHeaders).
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                   "User-Agent": TOKEN_USER_AGENT}
        answer_ = self._post(self.url, headers, urlencode(form).encode("ascii"), timeout)
        status, body = answer_
        try:
            answer = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            answer = None
        if status >= 500 or status == 429:
            raise RetryLater(f"the app's token endpoint answered HTTP {status}", retry_after(answer_, self._clock()))
        error = answer.get("error") if isinstance(answer, dict) else None
        code_exchange = form.get("grant_type") == "authorization_code"
        if status == 400 and code_exchange and error in ("invalid_request", "invalid_grant"):
            raise SignInExpiredError(CODE_REFUSED)
        if status == 400 and error == "invalid_grant":
            raise SignInExpiredError(f"{what} was refused (expired or revoked); run xfinity-usage --app-sign-in again")
        if status in (400, 401) and error == "invalid_client":
            raise ConfigError("the app's token endpoint refused the client secret; check XFINITY_CLIENT_SECRET")
        if status != 200:
            detail = f" ({error})" if isinstance(error, str) and len(error) < 40 else ""
            raise SiteChangedError(f"the app's token endpoint answered HTTP {status}{detail}")
        if answer is None:
            raise SiteChangedError("the app's token endpoint sent a body that is not JSON")
        return answer


__all__ = ["APP_URLS", "AUTHORIZE_URL", "CLIENT_ID", "CODE_REFUSED", "GRAPHQL_URL", "PendingSignIn", "REDIRECT_URI",
           "RetryLater",
           "SignInInputError", "TOKEN_URL", "TokenEndpoint", "Tokens", "authorize_url", "code_challenge",
           "jwt_expiry", "new_sign_in", "parse_redirect", "tokens_from_answer"]
