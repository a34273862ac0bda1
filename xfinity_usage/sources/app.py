"""The Xfinity app's route: a one-time sign-in, then the app's GraphQL API with no browser.

:class:`AppSource` is a :class:`~xfinity_usage.sources.Source` (name
``app``): it reuses the saved access token until five minutes before it
expires, refreshes it with the refresh token otherwise (saving a rotated
one before using it, under the token file's lock), refreshes once more on
a 401 or a GraphQL ``UNAUTHENTICATED``, and retries a 429, a 5xx or a reset
with backoff (or after the service's ``Retry-After``) within the deadline.
:func:`sign_in` does the one-time sign-in. :func:`reading_from_graphql`
turns the API's answer into a :class:`~xfinity_usage.reading.Reading`.
"""
from __future__ import annotations

import datetime
import json
import logging
import time
from typing import Any, Callable, Mapping

from . import oauth
from ..errors import (
    ConfigError,
    DataError,
    SiteChangedError,
    SiteUnavailableError,
    XfinityUsageError,
)
from ..reading import Month, Reading, current_month, finite_number, is_unlimited, parse_date
from .. import retry
from ..retry import Backoff, Deadline
from ..transport import Answer, request, retry_after
from .tokens import TokenFile

logger = logging.getLogger(__name__)

#: The query the app sends as ``InternetDataUsage`` (usage months, plan name and speeds).
USAGE_QUERY = (
    "query InternetDataUsage { accountByServiceAccountId { internet { "
    "plan { name downloadSpeed { unit value } uploadSpeed { unit value } } "
    "usage { inPaidOverage courtesy { totalAllowableCourtesy usedCourtesy remainingCourtesy } "
    "monthlyUsage { policy month year startDate endDate daysRemaining currentUsage { value unit } "
    "allowableUsage { value unit } overage overageCharge maximumOverageCharge courtesyCredit } } } } }")
#: The persisted-query id the app sends for ``InternetDataUsage`` (a public operation hash, not a
#: secret): the same 64-hex value in thor0215/hassio-xfinity-usage ``xfinity_graphql.py``
#: (``_GRAPHQL_USAGE_DETAILS_HEADERS``) and csobrinho/xfinity-usage ``usage.go``
#: (``usageExtraHeaders``). Both send it with their own query text, so the gateway does not
#: check that the text matches the hash.
OPERATION_ID = "61994c6016ac8c0ebcca875084919e5e01cb3b116a86aaf9646e597c3a1fbd06"
#: The headers both peers send with InternetDataUsage (thor0215 ``xfinity_graphql.py``
#: ``_GRAPHQL_USAGE_DETAILS_HEADERS`` + ``_GRAPHQL_EXTRA_HEADERS``; csobrinho ``usage.go``
#: ``usageExtraHeaders``); ``authorization`` and ``x-id-token`` are added per request.
API_HEADERS = {
    "x-apollo-operation-name": "InternetDataUsage",   # both peers
    "x-apollo-operation-id": OPERATION_ID,             # both peers
    # Apollo Kotlin's @defer-capable accept header, as both peers send it.
    "accept": "multipart/mixed; deferSpec=20220824, application/json",
    "client": "digital-home-android",                  # both peers
    "client-detail": "MOBILE;Samsung;SM-G991B;Android 14;v5.38.0",  # both peers
    "user-agent": "Digital Home / Samsung SM-G991B / Android 14",   # both peers
    "accept-language": "en-US",                        # both peers
    "content-type": "application/json",                # both peers
}
#: Seconds before its expiry an access token is no longer used.
REFRESH_MARGIN = 300.0
#: The reading's unit: every amount becomes GB.
UNITS = "GB"
#: GB in one of each unit the app's API reports in. The API counts in 1000s, unlike the website:
#: the 1.2 TB plan the website shows as 1229 GB comes as ``{"value": 1.23, "unit": "TB"}``
#: (thor0215 ``xfinity_graphql.py`` docstring and ``tests/const.py``), and both peers convert
#: TB with x1000 and MB with /1000 (thor0215 ``convert_raw_usage_to_website_format``,
#: csobrinho ``usage.go`` ``UsageValue.GB``). docs/app.rst: the +-5 GB this rounding carries.
API_GB = {"MB": 0.001, "GB": 1.0, "TB": 1000.0}
USAGE_PATH = "data.accountByServiceAccountId.internet.usage.monthlyUsage"


class _Unauthorized(XfinityUsageError):
    """The API refused the access token (HTTP 401, or GraphQL ``UNAUTHENTICATED`` on HTTP 200)."""


class Http:
    """``post(url, headers, body, timeout) -> (status, body)`` over :func:`xfinity_usage.transport.request`.

    The answer also carries ``.headers`` (lower-case names). A reset, refused
    connection, timeout or untrusted certificate raises SiteUnavailableError.
    """

    def __init__(self, ca_certs: str | None = None):
        self._ca_certs = ca_certs

    def __call__(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> Answer:
        return request("POST", url, headers, body, timeout, ca_certs=self._ca_certs)


def reading_from_graphql(raw: Any, *, now: float | None = None) -> Reading:
    """The reading in the app's ``InternetDataUsage`` answer.

    The current month is the one whose ``startDate``..``endDate`` holds
    today (else the latest), wherever it is in the list. Amounts are
    converted to GB; an unlimited month has ``total`` None.
    """
    now = time.time() if now is None else now
    node: Any = raw
    walked = []
    for key in USAGE_PATH.split("."):
        walked.append(key)
        if not isinstance(node, dict) or node.get(key) is None:
            errors = raw.get("errors") if isinstance(raw, dict) else None
            hint = ""
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                hint = f" (GraphQL error: {str(errors[0].get('message', ''))[:80]})"
            raise SiteChangedError(f"the app's usage answer has no {'.'.join(walked)}{hint}")
        node = node[key]
    if not isinstance(node, list) or not node:
        raise SiteChangedError(f"the app's usage answer has an empty or invalid {USAGE_PATH}")
    months = sorted((_month(item) for item in node), key=lambda pair: pair[0].start)
    today = datetime.date.fromtimestamp(now)
    month = current_month([pair[0] for pair in months], today)
    policy = next(pair[1] for pair in months if pair[0] is month)
    return Reading(used=month.used, total=month.total, units=UNITS, data_timestamp=int(now),
                   cycle_start=month.start, cycle_end=month.end, policy=policy, source=AppSource.name,
                   raw=raw, months=tuple(pair[0] for pair in months))


def _month(item: Any) -> tuple[Month, str | None]:
    if not isinstance(item, dict):
        raise DataError(f"a month of {USAGE_PATH} is not an object")
    start, end = parse_date(item.get("startDate")), parse_date(item.get("endDate"))
    if end < start:
        raise DataError(f"usage month ends ({end}) before it starts ({start})")
    used = _gb("currentUsage", item.get("currentUsage"))
    policy = item.get("policy") if isinstance(item.get("policy"), str) else None
    allowable = item.get("allowableUsage")
    raw_allowance = allowable.get("value") if isinstance(allowable, dict) else None
    if is_unlimited(policy, raw_allowance):
        total = None
    else:
        total = _gb("allowableUsage", allowable)
    return Month(start=start, end=end, used=used, total=total, units=UNITS), policy


def _gb(what: str, amount: Any) -> float:
    """An API amount (``{"value": 1.23, "unit": "TB"}``) in GB, counting in 1000s as the API does."""
    if not isinstance(amount, dict):
        raise SiteChangedError(f"a month of the app's usage answer has no {what}")
    value = finite_number(f"{what}.value", amount.get("value"))
    unit = str(amount.get("unit") or "").upper()
    if unit not in API_GB:
        raise DataError(f"{what} is in an unknown unit {amount.get('unit')!r}")
    return round(value * API_GB[unit], 6)


class AppSource:
    """The app's API with the saved app sign-in (see :mod:`xfinity_usage.sources.tokens`).

    ``client_secret`` overrides the one saved with the tokens. ``urls``
    may override ``APP_TOKEN_URL`` and ``APP_GRAPHQL_URL``. ``clock``,
    ``backoff`` and ``http`` are for tests.
    """

    name = "app"

    def __init__(self, token_file: str, *, urls: Mapping[str, str] | None = None, client_secret: str | None = None,
                 retries: int = 3, ca_certs: str | None = None, backoff: Callable[[], Backoff] = Backoff,
                 clock: Callable[[], float] = time.time, http: oauth.Post | None = None):
        self.token_file = TokenFile(token_file)
        self.urls = {**oauth.APP_URLS, **dict(urls or {})}
        self._client_secret = client_secret or ""
        self.retries = retries
        self._new_backoff = backoff
        self._clock = clock
        self._http = http or Http(ca_certs)
        #: Token endpoint calls of the last read (0 when the saved access token was used).
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"AppSource({self.token_file.path!r})"

    def read(self, deadline: Deadline) -> Reading:
        self.refreshes = 0
        tokens, secret = self._current_tokens(deadline, refused=None)
        try:
            raw = self._query(tokens, deadline)
        except _Unauthorized:
            logger.info("the app's API refused the access token; refreshing it once")
            tokens, secret = self._current_tokens(deadline, refused=tokens.access_token)
            try:
                raw = self._query(tokens, deadline)
            except _Unauthorized:
                raise SiteChangedError("the app's API refused a freshly refreshed access token (HTTP 401)") from None
        reading = reading_from_graphql(raw, now=self._clock())
        logger.info("usage read with the app's API (no browser)")
        return reading

    def _current_tokens(self, deadline: Deadline, refused: str | None) -> tuple[oauth.Tokens, str]:
        """A usable access token: the saved one, or a refreshed one saved under the lock first.

        ``refused`` is an access token the API just refused: it is refreshed
        unless another run has already replaced it.
        """
        if refused is None:
            tokens, secret = self.token_file.load()
            if tokens.valid_for(self._clock(), REFRESH_MARGIN):
                logger.info("reusing the saved access token")
                return tokens, self._client_secret or secret
        with self.token_file.locked(deadline):
            tokens, saved_secret = self.token_file.load()  # another run may have refreshed meanwhile
            secret = self._client_secret or saved_secret
            if refused is None and tokens.valid_for(self._clock(), REFRESH_MARGIN):
                logger.info("another run refreshed the access token; reusing it")
                return tokens, secret
            if refused is not None and tokens.access_token != refused:
                return tokens, secret
            if not secret:
                raise ConfigError("no client secret: set XFINITY_CLIENT_SECRET or XFINITY_CLIENT_SECRET_FILE")
            endpoint = oauth.TokenEndpoint(self.urls["APP_TOKEN_URL"], secret, self._http, self._clock)
            fresh = retrying(lambda: endpoint.refresh(tokens, deadline.cap(15.0)), deadline,
                                   "refreshing the app sign-in",
                             self.retries, self._new_backoff)
            self.refreshes += 1
            rotated = fresh.refresh_token != tokens.refresh_token
            self.token_file.save(fresh, secret)  # before the new tokens are used
            logger.info("refreshed the access token%s", " (the refresh token rotated)" if rotated else "")
            return fresh, secret

    def _query(self, tokens: oauth.Tokens, deadline: Deadline) -> Any:
        headers = {**API_HEADERS, "authorization": f"Bearer {tokens.access_token}", "x-id-token": tokens.id_token}
        body = json.dumps({"operationName": "InternetDataUsage", "variables": {}, "query": USAGE_QUERY}).encode()
        url = self.urls["APP_GRAPHQL_URL"]

        def once() -> Any:
            answer = self._http(url, headers, body, deadline.cap(15.0))
            status, data = answer
            if status == 401:
                raise _Unauthorized("HTTP 401")
            if status >= 500 or status == 429:
                raise oauth.RetryLater(f"the app's API answered HTTP {status}", retry_after(answer, self._clock()))
            if status != 200:
                raise SiteChangedError(f"the app's API answered HTTP {status}")
            try:
                raw = json.loads(data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise SiteChangedError("the app's API sent a body that is not JSON") from None
            graphql_errors(raw)
            return raw

        return retrying(once, deadline, "reading the usage from the app's API", self.retries,
                        self._new_backoff)


def graphql_errors(raw: Any) -> None:
    """Act on the ``errors`` a GraphQL answer carries on HTTP 200.

    ``UNAUTHENTICATED`` (Apollo's code for a refused token) raises
    :class:`_Unauthorized`, so the caller refreshes once. Any other error
    raises :class:`SiteChangedError` naming the service's message, unless
    the usage itself came (the gateway answers what it could: thor0215
    issue #70 shows a ``NOT_FOUND`` on ``plan.uploadSpeed`` beside the
    data); then it is logged and the usage is read.
    """
    errors = raw.get("errors") if isinstance(raw, dict) else None
    if not errors:
        return
    if not isinstance(errors, list):
        errors = [errors]
    found = [_code_and_message(error) for error in errors]
    if any(code == "UNAUTHENTICATED" for code, _ in found):
        raise _Unauthorized("GraphQL UNAUTHENTICATED")
    code, message = found[0]
    said = f"{message} ({code})" if code else message
    node: Any = raw
    for key in USAGE_PATH.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if not node:
        raise SiteChangedError(f"the app's API answered with an error instead of the usage: {said or 'no message'}")
    logger.warning("the app's API answered the usage with %d error(s) beside it, the first: %s", len(found), said)


def _code_and_message(error: Any) -> tuple[str, str]:
    """``(extensions.code, message)`` of one GraphQL error, the message cut to 120 characters."""
    if not isinstance(error, dict):
        return "", str(error)[:120]
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return str(code or ""), str(error.get("message") or "")[:120]


def retrying(call: Callable[[], Any], deadline: Deadline, what: str, retries: int,
             new_backoff: Callable[[], Backoff]) -> Any:
    """``call()``, again after a backoff while it raises SiteUnavailableError (5xx, 429, reset, timeout),
    at most ``retries`` more times and never past ``deadline`` (:func:`xfinity_usage.retry.retrying`).

    A :class:`~xfinity_usage.sources.oauth.RetryLater` with a ``Retry-After`` waits
    that long instead of the backoff; if that is past the deadline, it
    gives up at once, saying so.
    """
    try:
        return retry.retrying(call, deadline, what, retries, new_backoff,
                              retry_on=lambda exc: isinstance(exc, SiteUnavailableError),
                              wait_for=lambda exc: getattr(exc, "retry_after", None), out_of_time=what)
    except SiteUnavailableError as exc:
        wait = getattr(exc, "retry_after", None)
        if wait is not None and wait > deadline.remaining():
            raise SiteUnavailableError(f"{exc}, asking to wait {wait:g} s, longer than the time left "
                                       f"({deadline.remaining():.0f} s; see --timeout)") from None
        raise


def sign_in(token_file: str, client_secret: str, ask: Callable[[str], str], *,
            urls: Mapping[str, str] | None = None, deadline: Deadline | None = None,
            ca_certs: str | None = None, http: oauth.Post | None = None,
            clock: Callable[[], float] = time.time, retries: int = 3,
            backoff: Callable[[], Backoff] = Backoff) -> oauth.Tokens:
    """The one-time app sign-in; saves the tokens and ``client_secret`` in ``token_file``.

    ``ask(authorize_url)`` shows the URL to the person (or opens it in a
    browser) and returns what they pasted or what the browser was
    redirected to; :func:`oauth.parse_redirect` checks it.
    """
    if not client_secret:
        raise ConfigError("no client secret: set XFINITY_CLIENT_SECRET or XFINITY_CLIENT_SECRET_FILE")
    merged = {**oauth.APP_URLS, **dict(urls or {})}
    deadline = deadline or Deadline(600.0)
    pending = oauth.new_sign_in()
    pasted = ask(oauth.authorize_url(pending, merged["APP_AUTHORIZE_URL"]))
    code = oauth.parse_redirect(pasted, pending.state)
    endpoint = oauth.TokenEndpoint(merged["APP_TOKEN_URL"], client_secret, http or Http(ca_certs), clock)
    files = TokenFile(token_file)
    with files.locked(deadline):
        tokens = retrying(lambda: endpoint.exchange(code, pending, deadline.cap(15.0)), deadline,
                          "trading the sign-in code for tokens", retries, backoff)
        files.save(tokens, client_secret)
    logger.info("signed in to the app; the tokens are in %s", files.path)
    return tokens


__all__ = ["AppSource", "Http", "reading_from_graphql", "sign_in"]
