"""Session reuse end to end: the warm path, expiry, bad cookie files, TLS verification."""
import json
import os
import pathlib
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xfinity_usage.sources.session import SessionExpired, fetch_usage
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME

from .fixtures_clients import in_shared_browser
from .test_e2e_cli import saved_session

# The cold runs sign in with the session's running browser (fresh cookies each time).
pytestmark = [pytest.mark.e2e, in_shared_browser]


@pytest.fixture
def client(make_client):
    """``client(site, cookie_file, **kw)``: the demo account with a saved session to reuse."""
    def client(site, cookie_file, **kw):
        kw.setdefault("reuse_session", True)
        return make_client(site, cookie_file=str(cookie_file), **kw)
    return client


def test_warm_run_needs_no_browser_and_matches_the_cold_one(site, tmp_path, monkeypatch, client):
    cookie_file = tmp_path / "cookies.json"
    cold = client(site, cookie_file)
    cold_reading = cold.run()
    assert cold.served_by == "browser"
    import xfinity_usage.browsers as browsers

    def no_browser(*args, **kwargs):
        raise AssertionError("the warm path started a browser")

    monkeypatch.setattr(browsers, "open_browser", no_browser)
    warm = client(site, cookie_file)
    warm_reading = warm.run()
    assert warm.served_by == "session"
    assert (warm_reading.pop("source"), cold_reading.pop("source")) == ("session", "browser")
    assert {k: v for k, v in warm_reading.items() if k != "data_timestamp"} == {
        k: v for k, v in cold_reading.items() if k != "data_timestamp"}
    assert site.password_submissions == 1


def test_warm_path_does_not_import_selenium(site, tmp_path, client):
    cookie_file = tmp_path / "cookies.json"
    client(site, cookie_file).run()
    code = (
        "import sys\nfrom xfinity_usage import XfinityUsage\n"
        f"u = XfinityUsage({DEMO_USERNAME!r}, {DEMO_PASSWORD!r}, cookie_file={str(cookie_file)!r}, "
        f"browser_name='chrome-headless', urls={site.urls!r})\n"
        "r = u.run()\nassert u.served_by == 'session', u.served_by\n"
        "bad = [m for m in sys.modules if m.startswith('selenium')]\nassert not bad, bad\nprint(r['used'])\n")
    # the password goes in through the code, never argv: use stdin
    out = subprocess.run([os.sys.executable, "-"], input=code, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "424.0"


def test_expired_session_falls_back_to_exactly_one_login(site, tmp_path, client):
    cookie_file = tmp_path / "cookies.json"
    client(site, cookie_file).run()
    site.expire_sessions()
    old = json.loads(cookie_file.read_text())["cookies"]
    c = client(site, cookie_file)
    assert c.run()["used"] == 424.0
    assert c.served_by == "browser"
    assert site.password_submissions == 2
    new = json.loads(cookie_file.read_text())["cookies"]
    assert {x["value"] for x in new if x["name"] == "s_sess"} != {x["value"] for x in old if x["name"] == "s_sess"}
    # and the fresh cookies serve the next run without a browser
    c = client(site, cookie_file)
    c.run()
    assert c.served_by == "session"


def test_fresh_login_skips_reuse(site, tmp_path, client):
    cookie_file = tmp_path / "cookies.json"
    client(site, cookie_file).run()
    c = client(site, cookie_file, reuse_session=False)
    c.run()
    assert c.served_by == "browser" and site.password_submissions == 2


@pytest.mark.parametrize("content", [b"\x00garbage", b'[{"name": "s_sess", "value": "x"}]',
                                     b'{"version": 1, "origin": "https://evil.example", "cookies": []}'])
def test_corrupt_or_foreign_cookie_file_is_ignored_and_replaced(site, tmp_path, caplog, content, client):
    cookie_file = tmp_path / "cookies.json"
    cookie_file.write_bytes(content)
    c = client(site, cookie_file)
    assert c.run()["used"] == 424.0
    assert c.served_by == "browser"
    assert any(r.levelname == "WARNING" and "cookie file" in r.getMessage() for r in caplog.records)
    data = json.loads(cookie_file.read_text())
    assert data["version"] == 1 and data["cookies"]
    assert stat.S_IMODE(os.stat(cookie_file).st_mode) == 0o600


def test_cookies_for_other_sites_are_never_sent(site, tmp_path, client):
    """A saved session (made by the simulated site: what a browser saves is the warm-run test's) with
    a cookie of another site added: only the site's own cookies go out."""
    cookie_file = pathlib.Path(saved_session(site, tmp_path))
    data = json.loads(cookie_file.read_text())
    data["cookies"].append({"name": "other_site", "value": "secret", "domain": "example.com", "path": "/"})
    cookie_file.write_text(json.dumps(data))
    site.requests.clear()
    c = client(site, cookie_file)
    c.run()
    assert c.served_by == "session"
    sent = [r[3] for r in site.requests]
    assert sent and all("other_site" not in (h.get("Cookie") or h.get("cookie") or "") for h in sent)
    assert any("s_sess=" in (h.get("Cookie") or h.get("cookie") or "") for h in sent)
    assert site.password_submissions == 0


@pytest.fixture
def https_usage_server(tmp_path):
    """A tiny HTTPS server with a self-signed certificate, answering usage JSON."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    body = json.dumps({"usageMonths": [{"startDate": "01/01/2000", "endDate": "12/31/2099", "homeUsage": 5,
                                        "allowableUsage": 1229, "unitOfMeasure": "GB"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    yield base, str(cert)
    server.shutdown()


def test_tls_is_verified_on_the_browser_free_path(https_usage_server):
    from xfinity_usage.errors import SiteUnavailableError

    base, cert = https_usage_server
    urls = {"USAGE_JSON_URL": base + "/apis/csp", "LEGACY_USAGE_JSON_URL": base + "/apis/legacy",
            "LOGIN_URL": base + "/login", "HOME_URL": base + "/"}
    cookies = [{"name": "s_sess", "value": "x", "domain": "127.0.0.1", "path": "/"}]
    with pytest.raises(SiteUnavailableError):
        fetch_usage(urls, cookies, timeout=5)      # self-signed: refused
    assert fetch_usage(urls, cookies, timeout=5, ca_certs=cert).used == 5.0
    with pytest.raises(SessionExpired):
        fetch_usage(urls, [], timeout=5)


def test_transient_failure_of_the_saved_session_is_retried_without_a_login(site, tmp_path, client):
    from xfinity_usage.simulator import Fault

    cookie_file = tmp_path / "cookies.json"
    client(site, cookie_file).run()
    site.add_faults(Fault("/apis/csp/account/me/services/internet/usage", "error503", count=2))
    c = client(site, cookie_file)
    assert c.run()["used"] == 424.0
    assert c.served_by == "session" and site.password_submissions == 1
    assert [k for _, k in site.injected] == ["error503", "error503"]
