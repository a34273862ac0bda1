"""A redesigned site is reported as "site changed", naming what is missing."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xfinity_usage import SiteChangedError
from xfinity_usage.sources.site import Timeouts

from .fixtures_clients import in_shared_browser

pytestmark = [pytest.mark.e2e, in_shared_browser]

#: Both tests end in a give-up: on a page that stays unrecognised (its grace), or waiting
#: for a usage meter that never comes (the step). Short waits, chosen here.
GIVE_UP = Timeouts(step=4.0, other_page_grace=1.0)

NEW_LOGIN = b"<html><head><title>Sign in</title></head><body><div id='new-login-app'>Welcome</div></body></html>"
NEW_HOME = b"<html><head><title>My Account</title></head><body><main>Your new dashboard</main></body></html>"


class RedesignedSite:
    """HOME redirects to a login page without the form, or (logged_in) serves a page without the meter."""

    def __init__(self, logged_in: bool):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/apis/"):
                    self.send_response(404)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    self.wfile.write(b"<html><body>Not found</body></html>")
                elif logged_in or self.path.startswith("/login"):
                    body = NEW_HOME if logged_in else NEW_LOGIN
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(302)
                    self.send_header("Location", site.base.replace("127.0.0.1", "localhost") + "/login")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def urls(self):
        return {"HOME_URL": self.base + "/", "LOGIN_URL": self.base + "/login",
                "USAGE_JSON_URL": self.base + "/apis/csp/usage", "LEGACY_USAGE_JSON_URL": self.base + "/apis/usage",
                "USAGE_PAGE_URL": self.base + "/#/services/internet"}


@pytest.fixture
def run(make_client):
    def run(site):
        return make_client(site.urls, username="me@example.com", password="pw-123456", retries=1,
                           timeouts=GIVE_UP).run()
    return run


def test_login_form_gone(run):
    site = RedesignedSite(logged_in=False)
    with pytest.raises(SiteChangedError, match=r'form\[name="signin"\].*#user.*report'):
        run(site)
    site.server.shutdown()


def test_usage_gone(run):
    site = RedesignedSite(logged_in=True)
    with pytest.raises(SiteChangedError) as info:
        run(site)
    message = str(info.value)
    assert "/apis/csp/usage" in message and "/apis/usage" in message and "monthlyUsageState" in message
    site.server.shutdown()
