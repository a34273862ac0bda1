"""The app route as the real service speaks it (issue 21): units, headers, errors, and a
third-party client's requests, against SimulatedApp on 127.0.0.1."""
import base64
import gzip
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from xfinity_usage.sources import oauth
from xfinity_usage.sources.app import API_HEADERS, AppSource, Http, graphql_errors
from xfinity_usage.transport import retry_after
from xfinity_usage.errors import (
    ExitCode,
    SignInExpiredError,
    SiteChangedError,
    SiteUnavailableError,
)
from xfinity_usage.retry import Backoff, Deadline
from xfinity_usage.simulator.app import SimulatedApp, graphql_error

from .test_e2e_app import app, home  # noqa: F401 - the same fixtures: a SimulatedApp, a private home
from .test_e2e_app import expire_access_token, paste_sign_in, run_cli, signed_in, token_path

USAGE = ("data", "accountByServiceAccountId", "internet", "usage")


def current_month(answer):
    node = answer
    for key in USAGE:
        node = node[key]
    return node["monthlyUsage"][0]


# -- units -----------------------------------------------------------------


def test_the_real_shape_reads_353_of_1230_gb_and_json_keeps_the_api_value_and_unit(app, home):
    month = current_month(app.usage_answer())
    assert month["currentUsage"] == {"value": 353, "unit": "GB"}
    assert month["allowableUsage"] == {"value": 1.23, "unit": "TB"}
    signed_in(app, home)
    code, out, err = run_cli(app, home)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err
    code, out, err = run_cli(app, home, "-j")
    reading = json.loads(out)
    assert (reading["used"], reading["total"], reading["units"]) == (353.0, 1230.0, "GB")
    assert current_month(reading["raw"])["allowableUsage"] == {"value": 1.23, "unit": "TB"}


def test_the_overage_terms_come_with_each_month():
    answer = SimulatedApp(used=1400.0, courtesy_used=1).usage_answer()
    usage = answer["data"]["accountByServiceAccountId"]["internet"]["usage"]
    assert usage["courtesy"] == {"totalAllowableCourtesy": 1, "usedCourtesy": 1, "remainingCourtesy": 0}
    month = usage["monthlyUsage"][0]
    assert (month["overage"], month["overageCharge"], month["maximumOverageCharge"], month["courtesyCredit"]) \
        == (True, 40, 100, False)    # 170 GB over: four 50 GB blocks at $10
    forgiven = current_month(SimulatedApp(used=1400.0).usage_answer())
    assert (forgiven["overage"], forgiven["overageCharge"], forgiven["courtesyCredit"]) == (True, 0, True)
    under = current_month(SimulatedApp().usage_answer())
    assert (under["overage"], under["overageCharge"], under["courtesyCredit"]) == (False, 0, False)


# -- headers ----------------------------------------------------------------


def test_the_usage_query_carries_the_app_headers(app, home):
    path = signed_in(app, home)
    AppSource(path, urls=app.urls).read(Deadline(10))
    sent = app.state.graphql_headers
    assert sent["x-apollo-operation-id"] == "61994c6016ac8c0ebcca875084919e5e01cb3b116a86aaf9646e597c3a1fbd06"
    assert sent["accept"] == "multipart/mixed; deferSpec=20220824, application/json"
    assert {key: sent[key] for key in API_HEADERS} == API_HEADERS
    assert sent["authorization"].startswith("Bearer ") and sent["x-id-token"].count(".") == 2


# -- errors -----------------------------------------------------------------


def test_an_expired_sign_in_code_is_one_line_and_exit_10(home):
    now = [1000.0]
    with SimulatedApp(code_lifetime=60, clock=lambda: now[0]) as app:
        def late(redirect):
            now[0] += 61
            return redirect
        code, out, err = paste_sign_in(app, home, transform=late)
        assert ("token", "code expired") in app.state.refused
    assert code == ExitCode.SIGN_IN_EXPIRED == 10
    assert err.endswith("xfinity-usage: sign-in expired: the sign-in code expired or was already used; "
                        "sign in again (--app-sign-in)\n")
    assert not token_path(home).exists()


def test_a_used_sign_in_code_is_one_line_and_exit_10(app, home):
    first = {}

    def keep(redirect):
        first["code"] = redirect.split("code=", 1)[1].split("&")[0]
        return redirect

    assert paste_sign_in(app, home, transform=keep)[0] == 0
    code, out, err = paste_sign_in(app, home, transform=lambda redirect: first["code"])  # pasted again
    assert code == 10 and err.endswith(oauth.CODE_REFUSED + "\n")
    assert ("token", "code unknown or used") in app.state.refused and first["code"] not in err


def test_graphql_unauthenticated_on_http_200_refreshes_once_then_reads(app, home):
    signed_in(app, home)
    app.add_fault("graphql", "unauthenticated")
    code, out, err = run_cli(app, home, secret=False)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err
    assert app.state.grants.count("refresh_token") == 1 and app.requests_to("graphql") == 2


def test_graphql_unauthenticated_after_the_refresh_too_is_site_changed(app, home):
    signed_in(app, home)
    app.add_fault("graphql", "unauthenticated", count=2)
    code, out, err = run_cli(app, home, secret=False)
    assert code == ExitCode.SITE_CHANGED and "freshly refreshed" in err
    assert app.state.grants.count("refresh_token") == 1


def test_another_graphql_error_is_site_changed_naming_the_service_message(app, home):
    signed_in(app, home)
    app.add_fault("graphql", "graphql_error")
    code, out, err = run_cli(app, home)
    assert code == ExitCode.SITE_CHANGED == 7 and err.count("\n") == 1
    assert "Internet Product Mapping Not Found. (NOT_FOUND)" in err
    assert "has no" not in err       # data: null with errors is an error, not "no usage"
    assert app.state.grants.count("refresh_token") == 0


def test_errors_beside_the_usage_do_not_stop_the_reading(caplog):
    answer = SimulatedApp().usage_answer()
    answer["errors"] = graphql_error("Internet Product Mapping Not Found.", "NOT_FOUND",
                                     ["accountByServiceAccountId", "internet", "plan", "uploadSpeed"])["errors"]
    graphql_errors(answer)      # thor0215 issue #70: the plan failed, the usage came
    assert "Internet Product Mapping Not Found." in caplog.text
    with pytest.raises(SiteChangedError, match="boom"):
        graphql_errors({"data": None, "errors": [{"message": "boom"}]})


@pytest.mark.parametrize("endpoint", ["token", "graphql"])
def test_429_waits_the_retry_after_the_service_asks(app, home, endpoint):
    path = signed_in(app, home)
    expire_access_token(path)
    app.retry_after = 2
    app.add_fault(endpoint, "error429")
    slept = []
    reading = AppSource(path, urls=app.urls, backoff=lambda: Backoff(sleep=slept.append)).read(Deadline(30))
    assert reading.used == 353.0 and slept == [2.0] and app.state.injected == [(endpoint, "error429")]


def test_a_retry_after_past_the_deadline_gives_up_at_once(app, home):
    path = signed_in(app, home)
    app.retry_after = 120
    app.add_fault("graphql", "error429")
    slept = []
    with pytest.raises(SiteUnavailableError, match=r"HTTP 429, asking to wait 120 s, longer than the time left"):
        AppSource(path, urls=app.urls, backoff=lambda: Backoff(sleep=slept.append)).read(Deadline(20))
    assert slept == [] and app.requests_to("graphql") == 1  # gave up at once: no wait, no second try


def test_retry_after_as_an_http_date():
    class Answer(tuple):
        headers = {"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}

    assert retry_after(Answer((429, b"")), now=1792567700.0) == 10.0
    assert retry_after((429, b""), now=0.0) is None


# -- a third-party client ----------------------------------------------------
# The requests as thor0215/hassio-xfinity-usage makes them (xfinity_token.py and xfinity_graphql.py),
# written here from those facts, with the standard library: the authorize URL built by hand with
# an already-encoded redirect_uri; the code exchange whose redirect_uri is that encoded string, so
# it is encoded again in the form; the id_token's header read for jku and alg, the key set fetched
# from jku and the RS256 signature checked with iss/aud/exp/cust_guid required; the refresh with
# the same refresh token each time; the usage query with the app's headers and its own query text.

THOR_TOKEN_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                      "User-Agent": "Dalvik/2.1.0 (Linux; U; Android 14; SM-G991B Build/G991BXXUEGXJE)",
                      "Accept-Encoding": "gzip"}
THOR_TOKEN_DATA = {"active_x1_account_count": "true", "partner_id": "comcast", "mso_partner_hint": "true",
                   "scope": "profile", "rm_hint": "true", "client_id": "xfinity-android-application"}
THOR_USAGE_HEADERS = {
    "x-apollo-operation-id": "61994c6016ac8c0ebcca875084919e5e01cb3b116a86aaf9646e597c3a1fbd06",
    "x-apollo-operation-name": "InternetDataUsage",
    "accept": "multipart/mixed; deferSpec=20220824, application/json",
    "user-agent": "Digital Home / Samsung SM-G991B / Android 14", "client": "digital-home-android",
    "client-detail": "MOBILE;Samsung;SM-G991B;Android 14;v5.38.0", "accept-language": "en-US",
    "content-type": "application/json"}
THOR_QUERY = """
        query InternetDataUsage {
            accountByServiceAccountId {
                internet {
                    usage {
                        monthlyUsage {
                        policy
                        startDate
                        endDate
                        currentUsage { value unit }
                        allowableUsage { value unit }
                        }
                    }
                }
            }
        }
"""


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _post(url, data, headers):
    try:
        with urlopen(Request(url, data=data, headers=headers, method="POST"), timeout=10) as resp:
            body, status, encoding = resp.read(), resp.status, resp.headers.get("Content-Encoding")
    except Exception as exc:  # noqa: BLE001 - HTTPError carries the status and body
        body, status, encoding = exc.read(), exc.code, None
    return status, json.loads(gzip.decompress(body) if encoding == "gzip" else body)


def _verified_claims(id_token):
    """What thor0215's client does with an id_token: jku and alg from the header, the key from the
    key set at jku by kid, the RS256 signature checked, the required claims present."""
    header_b64, claims_b64, signature_b64 = id_token.split(".")
    header = json.loads(_b64decode(header_b64))
    assert header["alg"] == "RS256" and header["kid"] and header["jku"]
    with urlopen(header["jku"], timeout=10) as resp:
        keys = json.loads(resp.read())["keys"]
    key = next(k for k in keys if k["kid"] == header["kid"])
    n, e = (int.from_bytes(_b64decode(key[name]), "big") for name in ("n", "e"))
    signed = pow(int.from_bytes(_b64decode(signature_b64), "big"), e, n).to_bytes((n.bit_length() + 7) // 8, "big")
    digest = hashlib.sha256(f"{header_b64}.{claims_b64}".encode()).digest()
    assert signed.startswith(b"\x00\x01\xff") and signed.endswith(bytes.fromhex("3031300d060960864801650304020105000420")
                                                                    + digest)
    claims = json.loads(_b64decode(claims_b64))
    assert {"exp", "iat", "iss", "aud", "cust_guid"} <= set(claims)
    assert claims["iss"] == "xerxeslite-prod" and claims["aud"] == "xfinity-android-application"
    assert claims["exp"] > time.time()
    return claims


def test_a_third_party_clients_requests_are_accepted(app):
    urls = app.urls
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    state, activity_id = secrets.token_hex(11), str(uuid.uuid1())
    authorize = (urls["APP_AUTHORIZE_URL"] + "?redirect_uri=xfinitydigitalhome%3A%2F%2Fauth"
                 "&client_id=xfinity-android-application&response_type=code&prompt=select_account"
                 f"&state={state}&scope=profile&code_challenge={challenge}&code_challenge_method=S256"
                 f"&activity_id={activity_id}&active_x1_account_count=true&rm_hint=true&partner_id=comcast"
                 "&mso_partner_hint=true")
    redirect = app.user_sign_in(authorize)
    code = re.search(r"code=(oi-[0-9a-f]{32})", redirect).group(1)

    form = {"code": code, "grant_type": "authorization_code", "activity_id": activity_id,
            "redirect_uri": "xfinitydigitalhome%3A%2F%2Fauth", "client_secret": app.client_secret,
            "code_verifier": verifier, **THOR_TOKEN_DATA}
    body = urlencode(form).encode()
    assert b"redirect_uri=xfinitydigitalhome%253A%252F%252Fauth" in body     # encoded twice on the wire
    status, tokens = _post(urls["APP_TOKEN_URL"], body, THOR_TOKEN_HEADERS)
    assert status == 200 and "error" not in tokens, tokens
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599
    _verified_claims(tokens["id_token"])

    first_refresh = tokens["refresh_token"]
    for _ in range(2):      # a client that keeps the old refresh token keeps working
        form = {"grant_type": "refresh_token", "refresh_token": first_refresh, "client_secret": app.client_secret,
                **THOR_TOKEN_DATA}
        status, tokens = _post(urls["APP_TOKEN_URL"], urlencode(form).encode(), THOR_TOKEN_HEADERS)
        assert status == 200 and "access_token" in tokens, tokens
        assert tokens["refresh_token"] == first_refresh
        _verified_claims(tokens["id_token"])

    headers = {**THOR_USAGE_HEADERS, "authorization": f"{tokens['token_type']} {tokens['access_token']}",
               "x-id-token": tokens["id_token"]}
    data = json.dumps({"operationName": "InternetDataUsage", "variables": {}, "query": THOR_QUERY}).encode()
    status, answer = _post(urls["APP_GRAPHQL_URL"], data, headers)
    assert status == 200 and "errors" not in answer and "data" in answer
    month = current_month(answer)
    assert int(month["currentUsage"]["value"]) == 353 and int(month["allowableUsage"]["value"] * 1000) == 1230
    assert app.state.refused == []


def test_rotation_is_still_an_option(home):
    with SimulatedApp(rotate=True) as app:
        path = signed_in(app, home)
        endpoint = oauth.TokenEndpoint(app.urls["APP_TOKEN_URL"], app.client_secret, Http())
        _, tokens = expire_access_token(path)
        rotated = endpoint.refresh(tokens, 10)
        assert rotated.refresh_token != tokens.refresh_token
        with pytest.raises(SignInExpiredError, match="refused"):
            endpoint.refresh(tokens, 10)      # the old one no longer works


# -- TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_app(tmp_path_factory):
    """The simulated app's GraphQL answer over TLS, with a certificate from a throwaway CA."""
    import http.server
    import ssl
    import threading

    from .fixtures_mqtt import CA

    ca = CA(tmp_path_factory.mktemp("ca")).make()
    answer = json.dumps(SimulatedApp().usage_answer()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(ca.server_cert), str(ca.server_key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/galileo/graphql", str(ca.ca_cert)
    server.shutdown()
    server.server_close()


def test_tls_is_verified_with_the_given_ca_and_refused_without_it(https_app):
    url, ca_cert = https_app
    status, body = Http(ca_cert)(url, {}, b"{}", 10)
    assert status == 200 and json.loads(body)["data"]
    with pytest.raises(SiteUnavailableError, match="certificate is not trusted"):
        Http()(url, {}, b"{}", 10)


def test_the_default_tls_context_verifies_and_reads_the_system_certificates_lazily():
    import ssl

    from xfinity_usage.transport import tls_context

    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert tls_context() is context      # once per process
    paths = ssl.get_default_verify_paths()
    hashed = paths.capath and any(name.endswith(".0") for name in os.listdir(paths.capath))
    if hashed and os.path.realpath(paths.cafile or "") == os.path.realpath(paths.openssl_cafile or ""):
        # the hashed directory is read certificate by certificate, when a chain needs one
        assert context.cert_store_stats()["x509_ca"] == 0
    else:
        assert context.cert_store_stats()["x509_ca"] > 0     # the bundle, loaded as before
