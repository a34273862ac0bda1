"""Unit tests of the app route: what people paste, PKCE, the GraphQL answer as a Reading, the token file."""
import datetime
import os
import stat

import pytest

from xfinity_usage.sources import oauth
from xfinity_usage.sources.app import reading_from_graphql
from xfinity_usage.sources.app_browser import find_redirect
from xfinity_usage.errors import (
    ConfigError,
    DataError,
    ExitCode,
    SignInExpiredError,
    SiteChangedError,
)
from xfinity_usage.sources.oauth import SignInInputError, Tokens, parse_redirect
from xfinity_usage.simulator.app import SimulatedApp
from xfinity_usage.sources.tokens import TokenFile

CODE = "oi-" + "0123456789abcdef" * 2
STATE = "AbCdEfGhIjKlMnOpQrStUv"


@pytest.mark.parametrize("pasted", [
    f"xfinitydigitalhome://auth?code={CODE}&state={STATE}",
    f"xfinitydigitalhome://auth?state={STATE}&code={CODE}",
    CODE,
    f"{CODE}&state={STATE}",
    f"  {CODE}\n",
    f"'{CODE}'",
    f'"xfinitydigitalhome://auth?code={CODE}&state={STATE}"\n',
    f"code={CODE}&state={STATE}",
])
def test_every_paste_form_gives_the_code(pasted):
    assert parse_redirect(pasted, STATE) == CODE


@pytest.mark.parametrize("pasted, words", [
    ("0.ac.AbCdEf123456", "intermediate 0.ac."),
    ("xfinitydigitalhome://auth?code=0.ac.AbCdEf123456", "intermediate 0.ac."),
    ("0123456789abcdef0123456789abcdef", "start with oi-"),
    (f"xfinitydigitalhome://auth?code={CODE}&state=other", "state does not match"),
    (f"{CODE}&state=other", "state does not match"),
    ("", "nothing was pasted"),
    ("https://xerxes-sub.xerxessecure.com/xerxes-jwt/oauth/code?code=0.ac.x", "https:// page"),
    ("xfinitydigitalhome://auth?error=access_denied", "refused"),
])
def test_rejected_pastes_say_why_and_never_repeat_the_code(pasted, words):
    with pytest.raises(SignInInputError) as info:
        parse_redirect(pasted, STATE)
    assert words in str(info.value)
    assert CODE not in str(info.value) and "AbCdEf123456" not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_pkce_s256_and_authorize_url_parameters():
    pending = oauth.new_sign_in()
    import base64
    import hashlib
    digest = hashlib.sha256(pending.verifier.encode()).digest()
    assert pending.challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "=" not in pending.challenge and len(pending.challenge) == 43
    assert 43 <= len(pending.verifier) <= 128 and pending.verifier not in repr(pending)
    url = oauth.authorize_url(pending, "https://x.example/authorize")
    from urllib.parse import parse_qs, urlsplit
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert q["client_id"] == "xfinity-android-application" and q["redirect_uri"] == "xfinitydigitalhome://auth"
    assert q["response_type"] == "code" and q["scope"] == "profile" and q["prompt"] == "select_account"
    assert q["code_challenge_method"] == "S256" and q["code_challenge"] == pending.challenge
    assert q["state"] == pending.state and q["partner_id"] == "comcast" and q["activity_id"]
    assert pending.verifier not in url
    assert oauth.new_sign_in().state != pending.state


def _answer(order="newest_first", units="mixed", unlimited=False):
    app = SimulatedApp(months_order=order, units=units, unlimited=unlimited, today=datetime.date(2026, 11, 29))
    return app, app.usage_answer()


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
@pytest.mark.parametrize("units", ["mixed", "GB", "TB"])
def test_current_month_by_date_range_in_gb(order, units):
    app, raw = _answer(order, units)
    reading = reading_from_graphql(raw, now=datetime.datetime(2026, 11, 29, 12).timestamp())
    assert (reading.used, reading.total, reading.units) == (353.0, 1230.0, "GB")
    assert reading.cycle_start == datetime.date(2026, 11, 1) and reading.cycle_end == datetime.date(2026, 11, 30)
    assert [m.start.month for m in reading.months] == [9, 10, 11]
    assert reading.raw is raw and reading.source == "app" and reading.policy == "limited"
    # a month in the past: that month is the current one
    past = reading_from_graphql(raw, now=datetime.datetime(2026, 10, 15, 12).timestamp())
    assert past.used == 1010.0


def test_unlimited_has_no_total():
    _, raw = _answer(unlimited=True)
    reading = reading_from_graphql(raw, now=datetime.datetime(2026, 11, 29, 12).timestamp())
    assert reading.total is None and reading.unlimited and reading.to_dict()["total"] is None


@pytest.mark.parametrize("raw, missing", [
    ({"data": {"accountByServiceAccountId": {"internet": {"usage": None}}}}, "internet.usage"),
    ({"data": None, "errors": [{"message": "boom"}]}, "data"),
    ({}, "data"),
])
def test_an_answer_without_usage_is_site_changed_naming_what(raw, missing):
    with pytest.raises(SiteChangedError) as info:
        reading_from_graphql(raw)
    assert missing in str(info.value)


def test_unknown_unit_is_doubtful_data():
    _, raw = _answer()
    raw["data"]["accountByServiceAccountId"]["internet"]["usage"]["monthlyUsage"][0]["currentUsage"]["unit"] = "PB"
    with pytest.raises(DataError):
        reading_from_graphql(raw)


def test_token_file_private_atomic_and_round_trip(tmp_path):
    path = str(tmp_path / "cfg" / "xfinity-usage" / "app-token.json")
    files = TokenFile(path)
    with pytest.raises(ConfigError, match="--app-sign-in"):
        files.load()
    tokens = Tokens("at-1", "rt-1", "a.b.c", 1234.0, "act")
    with files.locked():
        files.save(tokens, "s3cret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    loaded, secret = files.load()
    assert (loaded.access_token, loaded.refresh_token, loaded.expires_at, secret) == ("at-1", "rt-1", 1234.0, "s3cret")
    assert "rt-1" not in repr(loaded) and not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp")]


def test_sign_in_expired_is_exit_10():
    assert SignInExpiredError.exit_code == ExitCode.SIGN_IN_EXPIRED == 10


def test_redirect_found_in_chrome_performance_log():
    message = ('{"message": {"method": "Network.requestWillBeSent", "params": {"request": {"url": '
               f'"xfinitydigitalhome://auth?code={CODE}&state={STATE}"}}}}}}}}')
    assert find_redirect([message]) == f"xfinitydigitalhome://auth?code={CODE}&state={STATE}"
    assert find_redirect(['{"message": {"params": {}}}']) is None


class _NoCaptureDriver:
    """A browser that reports the redirect nowhere: no BiDi, no performance log."""

    capabilities = {"browserName": "firefox"}

    def __init__(self):
        self.opened = []

    def get_log(self, kind):
        raise RuntimeError("no such log")

    def get(self, url):
        self.opened.append(url)


def test_a_browser_that_cannot_report_the_redirect_is_refused_at_once():
    from xfinity_usage.sources.app_browser import capture_redirect
    from xfinity_usage.errors import BrowserError
    from xfinity_usage.retry import Deadline

    driver = _NoCaptureDriver()
    with pytest.raises(BrowserError) as caught:  # at once: nothing opened, no wait for the 600 s deadline
        capture_redirect(driver, "http://127.0.0.1:9/authorize", Deadline(600), name="firefox")
    assert driver.opened == []
    text = str(caught.value)
    assert "\n" not in text and "firefox cannot report" in text and "paste the address" in text
    assert "without -b chrome/firefox" in text and caught.value.exit_code == ExitCode.BROWSER


def test_cli_says_at_once_when_the_browser_cannot_report_the_redirect(monkeypatch, tmp_path):
    import contextlib
    import io
    import json

    from xfinity_usage import browsers
    from xfinity_usage.cli.main import Environment, main

    @contextlib.contextmanager
    def fake_open_browser(name, **kwargs):
        assert kwargs.get("network_log") is True
        yield _NoCaptureDriver()

    monkeypatch.setattr(browsers, "open_browser", fake_open_browser)
    with SimulatedApp() as app:
        urls = tmp_path / "urls.json"
        urls.write_text(json.dumps(app.urls))
        env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
               "XDG_DATA_HOME": str(tmp_path / "data"), "XFINITY_CLIENT_SECRET": app.client_secret}
        out, err = io.StringIO(), io.StringIO()
        code = main(["--site-urls", str(urls), "--no-history", "--app-sign-in", "-b", "firefox"],
                    Environment(env=env, stdout=out, stderr=err, stdin=io.StringIO("")))
    assert code == ExitCode.BROWSER
    assert err.getvalue().count("\n") == 1 and "paste the address instead" in err.getvalue(), err.getvalue()


class _BidiDriver:
    """A browser with WebDriver BiDi whose network events the test plays."""

    capabilities = {"browserName": "firefox", "webSocketUrl": "ws://127.0.0.1:9/session/x"}

    def __init__(self, events):
        self.events, self.handlers, self.removed = events, {}, []
        self.network = self
        self.current_url = "http://127.0.0.1:9/xerxes-jwt/oauth/code"

    def add_event_handler(self, event, callback):
        self.handlers[event] = callback
        return len(self.handlers)

    def remove_event_handler(self, event, handler):
        self.removed.append(event)

    def get(self, url):
        for event, params in self.events:
            self.handlers[event](params)


def test_redirect_found_in_a_bidi_response_started_event():
    from xfinity_usage.sources.app_browser import capture_redirect
    from xfinity_usage.retry import Deadline

    location = f"xfinitydigitalhome://auth?code={CODE}&state={STATE}"
    response = {"url": "http://127.0.0.1:9/xerxes-jwt/oauth/code", "status": 302,
                "headers": [{"name": "Location", "value": {"type": "string", "value": location}}]}
    driver = _BidiDriver([("response_started", {"request": {"url": "http://127.0.0.1:9/"}, "response": {
        "url": "http://127.0.0.1:9/", "status": 200, "headers": []}}), ("response_started", {"response": response})])
    assert capture_redirect(driver, "http://127.0.0.1:9/authorize", Deadline(5), sleep=lambda s: None) == location
    assert sorted(driver.removed) == sorted(driver.handlers)   # unsubscribed afterwards


def test_selenium_traffic_logs_never_show_the_redirect(caplog):
    import logging

    from xfinity_usage.sources.app_browser import quiet_selenium_logs

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="selenium")
    traffic = logging.getLogger("selenium.webdriver.remote.websocket_connection")
    with quiet_selenium_logs():
        traffic.debug(f'<- {{"params": {{"value": "xfinitydigitalhome://auth?code={CODE}"}}}}')
        traffic.debug("<- %s", f"?code={CODE}&state={STATE}")
        traffic.debug("<- an ordinary message")
    traffic.debug("<- after: %s", "plain")
    assert CODE not in caplog.text and "an ordinary message" in caplog.text and "after: plain" in caplog.text
