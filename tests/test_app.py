"""Unit tests of the app route: what people paste, PKCE, the GraphQL answer as a Reading, the token file."""
import datetime
import os
import stat

import pytest

from xfinity_usage import oauth
from xfinity_usage.app import reading_from_graphql
from xfinity_usage.app_browser import find_redirect
from xfinity_usage.errors import ConfigError, DataError, ExitCode, SignInExpiredError, SiteChangedError
from xfinity_usage.oauth import SignInInputError, Tokens, parse_redirect
from xfinity_usage.simulator.app import SimulatedApp
from xfinity_usage.tokens import TokenFile

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


def _answer(order="newest_first", units="GB", unlimited=False):
    app = SimulatedApp(months_order=order, units=units, unlimited=unlimited, today=datetime.date(2026, 11, 29))
    return app, app.usage_answer()


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
@pytest.mark.parametrize("units", ["GB", "TB"])
def test_current_month_by_date_range_in_gb(order, units):
    app, raw = _answer(order, units)
    reading = reading_from_graphql(raw, now=datetime.datetime(2026, 11, 29, 12).timestamp())
    assert (reading.used, reading.total, reading.units) == (312.0, 1229.0, "GB")
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
