"""What each host answers, scenario by scenario (the flow of docs/site.rst)."""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from . import data, pages
from .responses import Response, html, json_response, redirect
from .state import CustomerSession, SiteState

logger = logging.getLogger(__name__)

CLIENT_ID = "my-account-web"
USAGE_PATH = "/apis/csp/account/me/services/internet/usage"
USAGE_QUERY = "filter=internet"
LEGACY_USAGE_PATH = "/apis/services/internet/usage"
METER_DATA_PATH = "/apis/usage-meter/data"
USAGE_ROUTE = "#/services/internet"
SESSION_COOKIE = "s_sess"
XSRF_COOKIE = "XSRF-TOKEN"
XSRF_HEADER = "x-xsrf-token"
LOGIN_COOKIE = "s_login"
JSON_PATHS = (USAGE_PATH, LEGACY_USAGE_PATH)
#: The 2024 usage page's call, on the API host (api.sc.xfinity.com).
SC_USAGE_PATH = "/session/csp/selfhelp/account/me/services/internet/usage"
#: The new account site (www.xfinity.com): the page moved accounts land on, the call it makes for
#: the usage, and where its script trades the page's boot code for its bearer token (our client
#: never asks for it: how the real page gets its token is not public).
ACCOUNT_PATH = "/account"
BILLING_CONTEXT_PATH = "/digital/service/api/BillingInfo/context"
PAGE_TOKEN_PATH = "/digital/service/session/page-token"
#: What a browser's fetch from the account page itself sends; Akamai refuses other calls.
BROWSER_FETCH_HEADERS = {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"}
#: Scenarios whose customer-site JSON endpoints are gone (each has another way to the usage).
JSON_GONE = ("json_gone", "scrape_text", "api_sc")


@dataclass
class Request:
    """One parsed request."""

    method: str
    target: str  # path with query, as sent
    headers: dict[str, str]
    body: bytes = b""
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)
    cookies: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path or "/"
        self.query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.cookies = parse_cookies(self.header("Cookie") or "")

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None

    def form(self) -> dict[str, str]:
        """The urlencoded POST body (first value of each field)."""
        text = self.body.decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def parse_cookies(header: str) -> dict[str, str]:
    """``a=1; b=2`` as a dict; values are kept as sent (not decoded)."""
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value
    return out


def cookie(name: str, value: str, *, http_only: bool) -> tuple:
    """A ``Set-Cookie`` header for the whole host."""
    flags = "; HttpOnly" if http_only else ""
    return ("Set-Cookie", f"{name}={value}; Path=/{flags}; SameSite=Lax")


def is_password_post(form: dict[str, str]) -> bool:
    """True when a ``POST /login`` carries a password (step 2, or the one-page form)."""
    return form.get("flowStep") != "username" and "passwd" in form


# -- the login host -----------------------------------------------------------


def authorize_url(state: SiteState, back: str = "/") -> str:
    """The OAuth authorize URL that leads back to ``back`` (a path) on the customer host."""
    query = urlencode({"client_id": CLIENT_ID, "response_type": "code",
                       "redirect_uri": state.home_origin + "/oauth/callback", "state": back})
    return f"{state.login_origin}/oauth/authorize?{query}"


def login_url(state: SiteState, continue_url: str) -> str:
    """The sign-in page URL that continues to ``continue_url``."""
    query = urlencode({"r": "comcast.net", "s": "oauth", "client_id": CLIENT_ID, "continue": continue_url})
    return f"{state.login_origin}/login?{query}"


def safe_continue(state: SiteState, url: str | None) -> str:
    """``url`` if it is this site's authorize URL, else the default one (no open redirects)."""
    if url:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == state.login_origin and parts.path == "/oauth/authorize":
            return url
    return authorize_url(state)


def login_host(state: SiteState, req: Request) -> Response:
    """Answer a request to the login host."""
    if req.path == "/oauth/authorize" and req.method == "GET":
        return authorize(state, req)
    if req.path == "/login" and req.method == "GET":
        return sign_in_form(state, safe_continue(state, req.query.get("continue")))
    if req.path == "/login" and req.method == "POST":
        return sign_in(state, req)
    if req.path == "/verify" and req.method == "POST":
        cont = safe_continue(state, req.form().get("continue"))
        return html(pages.mfa_page(cont, hint="That code is incorrect or has expired."))
    if req.path == "/security-check" and req.method == "GET":
        cont = safe_continue(state, req.query.get("continue"))
        return html(pages.security_check_page("/security-check/skip?" + urlencode({"continue": cont})))
    if req.path == "/security-check/skip" and req.method == "GET":
        state.clear_security_check(req.cookies.get(LOGIN_COOKIE))
        return redirect(safe_continue(state, req.query.get("continue")))
    if req.path == "/password/reset" and req.method == "GET":
        return html(pages.password_reset_page(safe_continue(state, req.query.get("continue"))))
    if req.path == "/password/reset" and req.method == "POST":  # choosing a password is not simulated
        cont = safe_continue(state, req.form().get("continue"))
        return html(pages.password_reset_page(cont, hint="Your chosen password cannot be used."))
    if req.path == "/security-check/review" and req.method == "GET":
        return html(pages.review_page())
    return html(pages.not_found_page(req.path), 404)


def authorize(state: SiteState, req: Request) -> Response:
    """Logged in on the login host: a code for the customer host; else the sign-in page."""
    expected_redirect = state.home_origin + "/oauth/callback"
    if req.query.get("client_id") != CLIENT_ID or req.query.get("redirect_uri") != expected_redirect:
        return html(pages.document("Bad Request", "<h1>Bad Request</h1><p>Unknown client.</p>"), 400)
    this_url = state.login_origin + req.target
    login = state.login_session(req.cookies.get(LOGIN_COOKIE))
    if login is None:
        return redirect(login_url(state, this_url))
    if login.needs_check:
        return redirect(f"{state.login_origin}/security-check?" + urlencode({"continue": this_url}))
    query = urlencode({"code": state.issue_code(), "state": req.query.get("state", "/")})
    return redirect(f"{expected_redirect}?{query}")


def sign_in_form(state: SiteState, cont: str, user: str = "", *, step: str = "username",
                 hint: str | None = None, remember: bool = False) -> Response:
    """The scenario's sign-in form."""
    if state.scenario == "legacy_form":
        return html(pages.legacy_login_page(cont, user, hint=hint))
    return html(pages.login_page(step, cont, user, hint=hint, remember=remember))


def sign_in(state: SiteState, req: Request) -> Response:
    """``POST /login``: the username step, or the password (checked)."""
    form = req.form()
    cont = safe_continue(state, form.get("continue"))
    user = form.get("user", "").strip()
    remember = form.get("rm") == "1"
    if not is_password_post(form):
        if not user:
            return sign_in_form(state, cont, hint=pages.MISSING_USER, remember=remember)
        return sign_in_form(state, cont, user, step="password", remember=remember)
    if not state.check_credentials(user, form.get("passwd", "")):
        logger.debug("sign-in refused for %r", user)
        return sign_in_form(state, cont, user, step="password", hint=pages.BAD_PASSWORD, remember=remember)
    if state.scenario == "mfa":
        return html(pages.mfa_page(cont))
    if state.scenario == "password_reset":  # no session until a new password is chosen
        return redirect(f"{state.login_origin}/password/reset?" + urlencode({"continue": cont}))
    needs_check = state.scenario == "security_check"
    token = state.new_login_session(needs_check=needs_check)
    set_cookie = [cookie(LOGIN_COOKIE, token, http_only=True)]
    if needs_check:
        return redirect(f"{state.login_origin}/security-check?" + urlencode({"continue": cont}), set_cookie)
    return redirect(cont, set_cookie)


# -- the customer host --------------------------------------------------------


def customer_host(state: SiteState, req: Request) -> Response:
    """Answer a request to the customer host."""
    if req.path == "/oauth/callback" and req.method == "GET":
        return callback(state, req)
    if state.scenario == "moved":
        return moved_customer_host(state, req)
    if req.path == METER_DATA_PATH and state.scenario == "api_sc":
        return html(pages.not_found_page(req.path), 404)
    if req.path in JSON_PATHS:
        return usage_json(state, req)
    if req.path == METER_DATA_PATH:
        if state.customer_session(req.cookies.get(SESSION_COOKIE)) is None:
            return unauthorized()
        return json_response(data.meter_data(state.today, state.scenario))
    if req.path.startswith("/apis/"):
        return json_response({"code": "NOT_FOUND", "message": "No such API."}, 404)
    if req.method != "GET":
        return html(pages.document("Method Not Allowed", "<h1>Method Not Allowed</h1>"), 405)
    if state.customer_session(req.cookies.get(SESSION_COOKIE)) is None:
        return redirect(authorize_url(state, req.target))
    if req.path == "/":
        return html(pages.app_shell("text" if state.scenario == "scrape_text" else "original"))
    return html(pages.not_found_page(req.path), 404)


def callback(state: SiteState, req: Request) -> Response:
    """Trade the code for a session: set ``s_sess`` and ``XSRF-TOKEN``, go back to the path in ``?state=``."""
    if not state.redeem_code(req.query.get("code", "")):
        return redirect(authorize_url(state))
    session = state.new_customer_session()
    back = req.query.get("state", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    headers = [cookie(SESSION_COOKIE, session.token, http_only=True),
               cookie(XSRF_COOKIE, quote(session.xsrf, safe=""), http_only=False)]
    return redirect(state.home_origin + back, headers)


def xsrf_matches(req: Request, session: CustomerSession) -> bool:
    """True when the ``x-xsrf-token`` header is the URL-decoded ``XSRF-TOKEN`` cookie, and that is the session's.

    The raw cookie value (still URL-encoded) does not match: clients must decode it.
    """
    header, sent = req.header(XSRF_HEADER), req.cookies.get(XSRF_COOKIE)
    if not header or sent is None:
        return False
    token = unquote(sent)
    return (hmac.compare_digest(header.encode("utf-8"), token.encode("utf-8"))
            and hmac.compare_digest(token.encode("utf-8"), session.xsrf.encode("utf-8")))


def access_denied(state: SiteState, host: str, req: Request) -> Response:
    """Akamai's ``403`` page, for any request to any host."""
    origin = {"customer": state.home_origin, "account": state.account_origin,
              "api": state.api_origin}.get(host, state.login_origin)
    reference = f"{secrets.token_hex(4)}.{int(time.time())}.{secrets.token_hex(4)}"
    return html(pages.access_denied_page(origin + req.path, reference), 403)


def unauthorized() -> Response:
    """The ``401`` of the APIs without a valid session."""
    return json_response({"code": "UNAUTHORIZED", "message": "The session is missing or has expired."}, 401)


def usage_json(state: SiteState, req: Request) -> Response:
    """Both usage endpoints: session (and, on the current one, the XSRF header) required."""
    if state.scenario in JSON_GONE:
        return html(pages.not_found_page(req.path), 404)
    session = state.customer_session(req.cookies.get(SESSION_COOKIE))
    if session is None:
        return unauthorized()
    if req.path == USAGE_PATH and not xsrf_matches(req, session):
        return json_response({"code": "FORBIDDEN", "message": "Missing or invalid XSRF token."}, 403)
    if state.scenario == "unlimited_404":
        return json_response(dict(data.NOT_SUPPORTED), 404)
    return json_response(data.usage_json(state.today, state.scenario))


# -- a moved account: the customer host sends it to the new account site -------


def moved_customer_host(state: SiteState, req: Request) -> Response:
    """Scenario ``moved``: every ``/apis/*`` answers 401; a signed-in page redirects to the account page."""
    if req.path.startswith("/apis/"):
        return unauthorized()
    if state.customer_session(req.cookies.get(SESSION_COOKIE)) is None:
        return redirect(authorize_url(state, req.target))
    return redirect(state.account_origin + ACCOUNT_PATH)


# -- the new account site (www.xfinity.com) ----------------------------------------


def account_host(state: SiteState, req: Request) -> Response:
    """Answer a request to the new account site (only scenario ``moved`` has accounts there)."""
    session = state.customer_session(req.cookies.get(SESSION_COOKIE))
    if state.scenario != "moved":
        return html(pages.not_found_page(req.path), 404)
    if req.path == ACCOUNT_PATH and req.method == "GET":
        if session is None:
            return redirect(authorize_url(state, "/"))
        return html(pages.account_page(state.new_boot(session.token), PAGE_TOKEN_PATH, BILLING_CONTEXT_PATH,
                                       data.BILLING_CONTEXT_BODY))
    if req.path == PAGE_TOKEN_PATH and req.method == "POST":
        if session is None or not _browser_fetch(req):
            return unauthorized()
        bearer = state.redeem_boot(req.body.decode("utf-8", "replace").strip(), session.token)
        return json_response({"token": bearer}) if bearer else unauthorized()
    if req.path == BILLING_CONTEXT_PATH:
        return billing_context(state, req)
    if req.path.startswith("/digital/"):
        return json_response({"code": "NOT_FOUND", "message": "No such API."}, 404)
    return html(pages.not_found_page(req.path), 404)


def _browser_fetch(req: Request) -> bool:
    """True when the ``Sec-Fetch-*`` headers are those of a fetch from the site's own page."""
    return all((req.header(name) or "").lower() == value for name, value in BROWSER_FETCH_HEADERS.items())


def billing_context(state: SiteState, req: Request) -> Response:
    """``POST BillingInfo/context``: the page's bearer token, the exact body and a browser's headers required."""
    if req.method != "POST":
        return json_response({"code": "METHOD_NOT_ALLOWED", "message": "POST only."}, 405)
    if not _browser_fetch(req) or "headless" in (req.header("Sec-CH-UA") or "").lower():
        return html(pages.access_denied_page(state.account_origin + req.path, "0.bot"), 403)
    auth = req.header("Authorization") or ""
    if not auth.startswith("Bearer ") or state.bearer_session(auth[len("Bearer "):]) is None:
        return json_response({"code": "UNAUTHORIZED", "message": "Missing or invalid bearer token."}, 401)
    try:
        body = json.loads(req.body.decode("utf-8"))
    except ValueError:
        body = None
    if body != data.BILLING_CONTEXT_BODY or "json" not in (req.header("Content-Type") or ""):
        return json_response({"code": "BAD_REQUEST", "message": "Unexpected request body."}, 400)
    return json_response(data.billing_context(state.today, state.scenario))


# -- the 2024 API host (api.sc.xfinity.com) ------------------------------------------


def api_host(state: SiteState, req: Request) -> Response:
    """The 2024 usage page's call: the session's cookies, from the customer host's pages (CORS)."""
    cors = []
    if req.header("Origin") == state.home_origin:
        cors = [("Access-Control-Allow-Origin", state.home_origin), ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin")]
    if req.method == "OPTIONS":
        return Response(204, headers=cors + [("Access-Control-Allow-Methods", "GET"),
                                             ("Access-Control-Allow-Headers", "Accept, Content-Type")])
    response = _api_answer(state, req)
    response.headers.extend(cors)
    return response


def _api_answer(state: SiteState, req: Request) -> Response:
    """Only scenario ``api_sc`` has this call (``moved``: 401); elsewhere it is gone, so the
    customer host's endpoints and their fallbacks are what the client reads."""
    if state.scenario == "moved":
        return unauthorized()
    if req.path != SC_USAGE_PATH or req.method != "GET" or state.scenario != "api_sc":
        return json_response({"code": "NOT_FOUND", "message": "No such API."}, 404)
    if state.customer_session(req.cookies.get(SESSION_COOKIE)) is None:
        return unauthorized()
    return json_response(data.usage_json(state.today, state.scenario))
