"""The simulated Xfinity site over plain HTTP (urllib, http.client; no browser)."""
import datetime
import http.client
import json
import logging
import re
import subprocess
import sys
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from urllib.error import HTTPError
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, HTTPRedirectHandler, Request, build_opener, urlopen

import pytest

from xfinity_usage.simulator import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    FAULT_KINDS,
    SCENARIOS,
    Fault,
    SimulatedSite,
)

TODAY = datetime.date(2026, 11, 15)
USAGE_PATH = "/apis/csp/account/me/services/internet/usage"
LEGACY_PATH = "/apis/services/internet/usage"
METER_PATH = "/apis/usage-meter/data"
BAD_PASSWORD = "The Xfinity ID or password you entered was incorrect. Please try again."
MONTH_FIELDS = {
    "policyName", "startDate", "endDate", "homeUsage", "wifiUsage", "totalUsage", "allowableUsage",
    "unitOfMeasure", "displayUsage", "devices", "additionalBlocksUsed", "additionalCostPerBlock",
    "additionalUnitsPerBlock", "additionalBlockSize", "additionalIncluded", "additionalUsed",
    "additionalPercentUsed", "additionalRemaining", "billableOverage", "overageCharges", "overageUsed",
    "maximumOverageCharge", "currentCreditAmount", "maxCreditAmount", "policy",
}
TOP_FIELDS = {"accountNumber", "courtesyUsed", "courtesyRemaining", "courtesyAllowed", "courtesyMonths",
              "inPaidOverage", "displayUsage", "usageMonths"}


# -- a tiny cookie-keeping HTTP client that does not follow redirects -----------


class Answer:
    def __init__(self, status, headers, body, url):
        self.status, self.headers, self.body, self.url = status, headers, body, url

    @property
    def text(self):
        return self.body.decode("utf-8")

    @property
    def location(self):
        return self.headers.get("Location")

    def json(self):
        return json.loads(self.body)

    def set_cookies(self):
        return self.headers.get_all("Set-Cookie") or []


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A cookie jar and an opener; redirects are returned, not followed."""

    def __init__(self):
        self.jar = CookieJar()
        self.opener = build_opener(HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, url, data=None, headers=None):
        body = urlencode(data).encode() if data is not None else None
        req = Request(url, data=body, headers=headers or {})
        try:
            with self.opener.open(req, timeout=10) as resp:
                return Answer(resp.status, resp.headers, resp.read(), url)
        except HTTPError as err:
            with err:
                return Answer(err.code, err.headers, err.read(), url)

    def follow(self, url, data=None, limit=10):
        """Request ``url`` and follow redirects; returns (the answers' (status, url) chain, the last answer)."""
        chain = []
        answer = self.request(url, data)
        chain.append((answer.status, url))
        while answer.status in (301, 302, 303) and len(chain) < limit:
            url = answer.location
            answer = self.request(url)
            chain.append((answer.status, url))
        return chain, answer

    def cookie(self, name):
        for c in self.jar:
            if c.name == name:
                return c.value
        return None


class Page(HTMLParser):
    """Inputs of the first form, elements by id, the title and anchors."""

    def __init__(self, text):
        super().__init__()
        self.title, self.fields, self.ids, self.links, self.forms = "", {}, {}, [], []
        self._in_title = False
        self._form_depth = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = dict(attrs, tag=tag)
        if tag == "title":
            self._in_title = True
        if tag == "form":
            self.forms.append(attrs)
        if tag == "a":
            self.links.append(attrs)
        if tag == "input" and attrs.get("name") and "disabled" not in attrs:
            if attrs.get("type") == "checkbox" and "checked" not in attrs:
                return
            self.fields.setdefault(attrs["name"], attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def absolute(site, answer, path):
    parts = urlsplit(answer.url)
    return f"{parts.scheme}://{parts.netloc}{path}"


def login(site, client, username=DEMO_USERNAME, password=DEMO_PASSWORD):
    """Sign in through the forms as a browser would; returns the last answer."""
    _, answer = client.follow(site.urls["HOME_URL"])
    page = Page(answer.text)
    form = dict(page.fields)
    if "flowStep" in form:
        form["user"] = username
        answer = client.request(absolute(site, answer, "/login"), form)
        form = dict(Page(answer.text).fields)
    else:
        form["user"] = username
    form["passwd"] = password
    _, answer = client.follow(site.urls["LOGIN_URL"], form)
    return answer


@pytest.fixture
def normal(make_site):
    return make_site(scenario="normal", today=TODAY)


# -- URLs and the redirect chain ----------------------------------------------


def test_urls(site):
    urls = site.urls
    assert set(urls) == {"HOME_URL", "LOGIN_URL", "USAGE_JSON_URL", "SC_USAGE_JSON_URL", "LEGACY_USAGE_JSON_URL",
                         "USAGE_PAGE_URL", "ACCOUNT_URL", "BILLING_CONTEXT_URL"}
    ports = {urlsplit(urls[key]).port for key in ("HOME_URL", "LOGIN_URL", "SC_USAGE_JSON_URL", "ACCOUNT_URL")}
    assert len(ports) == 4  # four hosts
    assert urlsplit(urls["BILLING_CONTEXT_URL"]).port == urlsplit(urls["ACCOUNT_URL"]).port
    home, login_url = urlsplit(urls["HOME_URL"]), urlsplit(urls["LOGIN_URL"])
    assert home.hostname == login_url.hostname == "127.0.0.1"
    assert home.port != login_url.port
    assert urls["HOME_URL"].endswith("/") and home.path == "/"
    assert login_url.path == "/login"
    assert urls["USAGE_JSON_URL"] == urls["HOME_URL"][:-1] + USAGE_PATH + "?filter=internet"
    assert urls["LEGACY_USAGE_JSON_URL"] == urls["HOME_URL"][:-1] + LEGACY_PATH
    assert urls["USAGE_PAGE_URL"] == urls["HOME_URL"] + "#/services/internet"


def test_not_started_has_no_urls():
    with pytest.raises(RuntimeError):
        SimulatedSite().urls


def test_unknown_scenario_and_fault_kind():
    with pytest.raises(ValueError):
        SimulatedSite(scenario="bad_password")
    with pytest.raises(ValueError):
        Fault("/login", "explode")
    with pytest.raises(ValueError):
        SimulatedSite(fault_rate=0.5, fault_kinds=["nope"])


def test_scenarios():
    assert SCENARIOS == ("normal", "legacy_form", "mfa", "access_denied", "security_check", "unlimited",
                         "unlimited_404", "json_gone", "password_reset", "moved", "api_sc", "scrape_text",
                         "months_reversed", "unlimited_zero", "unlimited_large", "unlimited_name", "over_cap",
                         "over_cap_courtesy")
    assert FAULT_KINDS == ("blank", "error500", "error503", "reset", "slow", "truncated", "no_usage_months",
                           "access_denied")


def test_redirect_chain_to_login(site):
    client = Client()
    home = site.urls["HOME_URL"]
    first = client.request(home)
    assert first.status == 302
    authorize = urlsplit(first.location)
    assert f"{authorize.scheme}://{authorize.netloc}/login" == site.urls["LOGIN_URL"]
    assert authorize.path == "/oauth/authorize"
    params = parse_qs(authorize.query)
    assert params == {"client_id": ["my-account-web"], "response_type": ["code"],
                      "redirect_uri": [home + "oauth/callback"], "state": ["/"]}
    second = client.request(first.location)
    assert second.status == 302
    to_login = urlsplit(second.location)
    assert to_login.path == "/login"
    params = parse_qs(to_login.query)
    assert params["r"] == ["comcast.net"] and params["s"] == ["oauth"]
    assert params["client_id"] == ["my-account-web"]
    assert params["continue"] == [first.location]
    assert "continue=" + quote(first.location, safe="") in second.location
    page = client.request(second.location)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert site.password_submissions == 0


def test_login_page_step_one(site):
    _, answer = Client().follow(site.urls["HOME_URL"])
    page = Page(answer.text)
    assert page.title == "Sign in to Xfinity"
    assert page.forms[0]["name"] == "signin"
    assert page.forms[0]["method"] == "post" and page.forms[0]["action"] == "/login"
    assert page.fields["flowStep"] == "username"
    assert urlsplit(page.fields["continue"]).path == "/oauth/authorize"
    assert page.ids["user"]["name"] == "user"
    assert page.ids["remember_me"]["name"] == "rm" and page.ids["remember_me"]["type"] == "checkbox"
    assert page.ids["remember_me_checkbox"]["tag"] == "label"
    assert page.ids["remember_me_checkbox"]["for"] == "remember_me"
    assert page.ids["sign_in"]["tag"] == "button"
    assert "passwd" not in page.ids
    # the checkbox sits beneath its label: absolutely placed, invisible, lower in the stack
    box = re.search(r"#remember_me \{([^}]*)\}", answer.text).group(1)
    label = re.search(r"#remember_me_checkbox \{([^}]*)\}", answer.text).group(1)
    assert "position: absolute" in box and "opacity: 0" in box
    z_box = int(re.search(r"z-index: (\d+)", box).group(1))
    z_label = int(re.search(r"z-index: (\d+)", label).group(1))
    assert z_label > z_box
    assert "<script" not in answer.text


def test_two_step_login_sets_cookies_and_returns_home(normal):
    client = Client()
    _, answer = client.follow(normal.urls["HOME_URL"])
    form = dict(Page(answer.text).fields, user=DEMO_USERNAME, rm="1")
    step2 = client.request(normal.urls["LOGIN_URL"], form)
    page = Page(step2.text)
    assert step2.status == 200 and page.title == "Sign in to Xfinity"
    assert page.fields["flowStep"] == "password"
    assert page.fields["user"] == DEMO_USERNAME  # the hidden copy
    assert "disabled" in page.ids["user"] and page.ids["user"]["value"] == DEMO_USERNAME
    assert page.ids["passwd"]["name"] == "passwd" and page.ids["passwd"]["type"] == "password"
    assert "sign_in" in page.ids and "passwd-hint" not in page.ids
    assert normal.password_submissions == 0

    submitted = client.request(normal.urls["LOGIN_URL"], dict(page.fields, passwd=DEMO_PASSWORD))
    assert normal.password_submissions == 1
    assert submitted.status == 302
    assert urlsplit(submitted.location).path == "/oauth/authorize"
    assert any(c.startswith("s_login=") and "HttpOnly" in c for c in submitted.set_cookies())

    to_callback = client.request(submitted.location)
    assert to_callback.status == 302
    callback = urlsplit(to_callback.location)
    assert to_callback.location.startswith(normal.urls["HOME_URL"] + "oauth/callback?")
    assert parse_qs(callback.query)["state"] == ["/"] and parse_qs(callback.query)["code"]

    done = client.request(to_callback.location)
    assert done.status == 302 and done.location == normal.urls["HOME_URL"]
    cookies = {c.split("=", 1)[0]: c for c in done.set_cookies()}
    assert set(cookies) == {"s_sess", "XSRF-TOKEN"}
    assert "HttpOnly" in cookies["s_sess"] and "Path=/" in cookies["s_sess"]
    assert "HttpOnly" not in cookies["XSRF-TOKEN"] and "Path=/" in cookies["XSRF-TOKEN"]
    raw_xsrf = cookies["XSRF-TOKEN"].split(";")[0].split("=", 1)[1]
    assert "%3D" in raw_xsrf and "=" in unquote(raw_xsrf)

    home = client.request(normal.urls["HOME_URL"])
    assert home.status == 200 and Page(home.text).title == "Xfinity My Account"
    # a used code is not accepted twice
    again = Client().request(to_callback.location)
    assert again.status == 302 and "Set-Cookie" not in again.headers


def test_state_carries_the_path(normal):
    client = Client()
    target = normal.urls["HOME_URL"] + "accounts/overview?tab=1"
    first = client.request(target)
    assert parse_qs(urlsplit(first.location).query)["state"] == ["/accounts/overview?tab=1"]
    _, answer = client.follow(first.location)
    form = dict(Page(answer.text).fields, user=DEMO_USERNAME)
    form = dict(Page(client.request(normal.urls["LOGIN_URL"], form).text).fields, passwd=DEMO_PASSWORD)
    chain, _ = client.follow(normal.urls["LOGIN_URL"], form)
    assert chain[-1][1] == target


@pytest.mark.parametrize("username,password", [(DEMO_USERNAME, "wrong-password-123"),
                                               ("someone@example.com", DEMO_PASSWORD)])
def test_wrong_credentials(normal, username, password):
    client = Client()
    answer = login(normal, client, username, password)
    page = Page(answer.text)
    assert answer.status == 200 and page.fields["flowStep"] == "password"
    assert BAD_PASSWORD in answer.text
    assert page.ids["passwd-hint"]["tag"] == "p"
    assert re.search(r'<p id="passwd-hint"[^>]*>' + re.escape(BAD_PASSWORD) + "</p>", answer.text)
    assert "passwd" in page.ids
    assert normal.password_submissions == 1
    assert client.cookie("s_login") is None and client.cookie("s_sess") is None
    assert password not in answer.text


def test_empty_username_stays_on_step_one(normal):
    client = Client()
    _, answer = client.follow(normal.urls["HOME_URL"])
    again = client.request(normal.urls["LOGIN_URL"], dict(Page(answer.text).fields, user=""))
    page = Page(again.text)
    assert page.fields["flowStep"] == "username" and "user-hint" in page.ids
    assert "passwd-hint" not in page.ids and normal.password_submissions == 0


def test_legacy_form(make_site):
    site = make_site(scenario="legacy_form")
    client = Client()
    _, answer = client.follow(site.urls["HOME_URL"])
    page = Page(answer.text)
    assert page.title == "Sign in to Xfinity"
    assert {"user", "passwd", "sign_in"} <= set(page.ids)
    assert "flowStep" not in page.fields and "flowStep" not in answer.text
    assert "disabled" not in page.ids["user"]

    bad = client.request(site.urls["LOGIN_URL"], dict(page.fields, user=DEMO_USERNAME, passwd="nope-1"))
    bad_page = Page(bad.text)
    assert BAD_PASSWORD in bad.text and "passwd-hint" in bad_page.ids
    assert bad_page.ids["user"]["value"] == DEMO_USERNAME and "passwd" in bad_page.ids
    assert site.password_submissions == 1

    chain, home = client.follow(site.urls["LOGIN_URL"], dict(page.fields, user=DEMO_USERNAME,
                                                                 passwd=DEMO_PASSWORD))
    assert site.password_submissions == 2
    assert Page(home.text).title == "Xfinity My Account"
    assert client.cookie("s_sess")


# -- the usage JSON ----------------------------------------------------------


def logged_in(site):
    client = Client()
    answer = login(site, client)
    assert Page(answer.text).title == "Xfinity My Account", answer.text[:200]
    return client


def xsrf(client):
    return unquote(client.cookie("XSRF-TOKEN"))


def test_csp_endpoint_requires_session_and_xsrf(normal):
    url = normal.urls["USAGE_JSON_URL"]
    anonymous = Client().request(url, headers={"x-xsrf-token": "x"})
    assert anonymous.status == 401 and anonymous.headers["Content-Type"].startswith("application/json")
    assert anonymous.json()["code"] == "UNAUTHORIZED"

    client = logged_in(normal)
    missing = client.request(url)
    assert missing.status == 403 and missing.headers["Content-Type"].startswith("application/json")
    assert missing.json()["code"] == "FORBIDDEN"
    raw = client.request(url, headers={"x-xsrf-token": client.cookie("XSRF-TOKEN")})
    assert raw.status == 403  # the header must be the URL-decoded cookie
    good = client.request(url, headers={"X-XSRF-Token": xsrf(client)})
    assert good.status == 200 and good.headers["Content-Type"] == "application/json"
    assert good.json() == normal.usage_json()
    sent = [r for r in normal.requests if r[2].startswith(USAGE_PATH)]
    assert sent[-1][0] == "customer" and sent[-1][1] == "GET" and sent[-1][2].endswith("?filter=internet")


def test_csp_endpoint_refuses_a_wrong_xsrf_value(normal):
    """Only the exact, decoded token of this session passes: a client sending a wrong value gets 403."""
    url = normal.urls["USAGE_JSON_URL"]
    client, other = logged_in(normal), logged_in(normal)
    right = xsrf(client)
    assert right != xsrf(other)
    wrong_values = [right[:-2], right + "x", right.lower() if right.lower() != right else right.upper(),
                    right[:3] + ("x" if right[3] != "x" else "y") + right[4:], "", xsrf(other), quote(right, safe="")]
    for wrong in wrong_values:
        answer = client.request(url, headers={"x-xsrf-token": wrong})
        assert answer.status == 403, wrong
        assert answer.json() == {"code": "FORBIDDEN", "message": "Missing or invalid XSRF token."}
    assert client.request(url, headers={"x-xsrf-token": right}).status == 200

    # header and cookie agreeing is not enough: the token must be the session's own
    session = client.cookie("s_sess")
    forged = Client().request(url, headers={"Cookie": f"s_sess={session}; XSRF-TOKEN={other.cookie('XSRF-TOKEN')}",
                                            "x-xsrf-token": xsrf(other)})
    assert forged.status == 403
    # and the header must match the cookie sent, not merely the session
    mismatched = Client().request(url, headers={"Cookie": f"s_sess={session}; XSRF-TOKEN=bogus",
                                                "x-xsrf-token": right})
    assert mismatched.status == 403
    honest = Client().request(url, headers={"Cookie": f"s_sess={session}; XSRF-TOKEN={client.cookie('XSRF-TOKEN')}",
                                            "x-xsrf-token": right})
    assert honest.status == 200 and honest.json() == normal.usage_json()


def test_legacy_endpoint_needs_only_the_session(normal):
    url = normal.urls["LEGACY_USAGE_JSON_URL"]
    assert Client().request(url).status == 401
    client = logged_in(normal)
    legacy = client.request(url)
    assert legacy.status == 200 and legacy.headers["Content-Type"] == "application/json"
    current = client.request(normal.urls["USAGE_JSON_URL"], headers={"x-xsrf-token": xsrf(client)})
    assert legacy.json() == current.json()


def month_range(start, end):
    return (datetime.datetime.strptime(start, "%m/%d/%Y").date(),
            datetime.datetime.strptime(end, "%m/%d/%Y").date())


@pytest.mark.parametrize("today", [TODAY, datetime.date(2027, 2, 28), datetime.date(2024, 3, 1)])
def test_json_shape(make_site, today):
    site = make_site(today=today)
    body = logged_in(site).request(site.urls["LEGACY_USAGE_JSON_URL"]).json()
    assert set(body) == TOP_FIELDS
    assert body["accountNumber"].startswith("8499") and body["courtesyMonths"] == []
    months = body["usageMonths"]
    assert len(months) == 6
    previous_end = None
    for month in months:
        assert set(month) == MONTH_FIELDS
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", month["startDate"])
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", month["endDate"])
        start, end = month_range(month["startDate"], month["endDate"])
        assert start.day == 1 and (end + datetime.timedelta(days=1)).day == 1 and start.month == end.month
        if previous_end:
            assert start == previous_end + datetime.timedelta(days=1)
        previous_end = end
        assert month["wifiUsage"] is None and month["unitOfMeasure"] == "GB"
        assert month["totalUsage"] == month["homeUsage"]
        assert month["allowableUsage"] == 1229.0 and month["policy"] == "limited"
        assert 2 <= len(month["devices"]) <= 3
        assert sum(d["usage"] for d in month["devices"]) == month["homeUsage"]
        for device in month["devices"]:
            assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", device["id"])
            assert round(device["usage"], 1) == device["usage"] and device["usage"] > 0
    first, last = month_range(months[-1]["startDate"], months[-1]["endDate"])
    assert first <= today <= last
    assert [m["homeUsage"] for m in months] == [801.0, 912.0, 1011.0, 978.0, 1102.0, 424.0]
    assert site.expected_reading() == {"units": "GB", "used": 424.0, "total": 1229.0}


# -- the usage page ----------------------------------------------------------


def test_home_is_an_es5_app_shell(normal):
    client = logged_in(normal)
    shell = client.request(normal.urls["HOME_URL"]).text
    script = re.search(r"<script>(.*)</script>", shell, re.S).group(1)
    assert "XMLHttpRequest" in script and "/apis/usage-meter/data" in script
    assert "hashchange" in script and "location.hash" in script
    assert "data-state" in script and 'ng-bind-html="usage.details.userMessage.monthlyUsageState"' in script
    assert 'usage-data="usage.details.usageData"' in script
    assert "usage-meter-text" not in script and "usage-history" not in script  # made-up ids, gone
    for modern in ("fetch(", "=>", "let ", "const ", "`", "class "):
        assert modern not in script, modern
    assert 'id="app"' in shell


def test_usage_meter_data(normal):
    assert Client().request(normal.urls["HOME_URL"][:-1] + METER_PATH).status == 401
    client = logged_in(normal)
    data = client.request(normal.urls["HOME_URL"][:-1] + METER_PATH).json()
    assert data == {"plan": "limited", "unit": "GB", "used": 424.0, "allowance": 1229.0,
                    "months": [{"label": "Jun 2026", "used": 801.0}, {"label": "Jul 2026", "used": 912.0},
                               {"label": "Aug 2026", "used": 1011.0}, {"label": "Sep 2026", "used": 978.0},
                               {"label": "Oct 2026", "used": 1102.0}, {"label": "Nov 2026", "used": 424.0}]}


def test_unknown_pages(normal):
    client = logged_in(normal)
    assert client.request(normal.urls["HOME_URL"] + "no/such/page").status == 404
    api = client.request(normal.urls["HOME_URL"] + "apis/nothing")
    assert api.status == 404 and api.json()["code"] == "NOT_FOUND"
    assert Client().request(normal.urls["LOGIN_URL"][:-len("/login")] + "/nothing").status == 404


# -- scenarios ---------------------------------------------------------------


def held_after_password(site, title, field):
    """Sign in; the right password lands on page ``title`` with input ``field`` and no login session."""
    client = Client()
    answer = login(site, client)
    page = Page(answer.text)
    assert page.title == title and page.ids[field]["tag"] == "input"
    assert site.password_submissions == 1 and client.cookie("s_login") is None
    return client, answer, page


def test_mfa(make_site):
    site = make_site(scenario="mfa")
    client, answer, page = held_after_password(site, "Verify your identity", "verificationCode")
    code = client.request(site.urls["LOGIN_URL"][:-len("/login")] + "/verify",
                          dict(page.fields, verificationCode="123456"))
    assert Page(code.text).title == "Verify your identity" and "incorrect" in code.text
    # a wrong password is still a wrong password
    assert BAD_PASSWORD in login(site, Client(), password="nope-1").text


def test_password_reset(make_site):
    site = make_site(scenario="password_reset")
    client, answer, page = held_after_password(site, "Reset your password", "newPassword")
    assert answer.url.startswith(site.urls["LOGIN_URL"][:-len("/login")] + "/password/reset?continue=")
    # no session until a new password is chosen, and choosing one is not simulated
    _, again = client.follow(site.urls["HOME_URL"])
    assert Page(again.text).title == "Sign in to Xfinity"
    chosen = client.request(absolute(site, answer, "/password/reset"),
                            dict(page.fields, newPassword="x-1", confirmPassword="x-1"))
    assert Page(chosen.text).title == "Reset your password" and "cannot be used" in chosen.text
    assert BAD_PASSWORD in login(site, Client(), password="nope-1").text


def test_security_check(make_site):
    site = make_site(scenario="security_check")
    client = Client()
    _, answer = client.follow(site.urls["HOME_URL"])
    form = dict(Page(answer.text).fields, user=DEMO_USERNAME)
    form = dict(Page(client.request(site.urls["LOGIN_URL"], form).text).fields, passwd=DEMO_PASSWORD)
    submitted = client.request(site.urls["LOGIN_URL"], form)
    assert submitted.status == 302
    assert submitted.location.startswith(site.urls["LOGIN_URL"][:-len("/login")] + "/security-check?continue=")
    check = client.request(submitted.location)
    page = Page(check.text)
    assert page.title == "Security Check"
    cancel = [a for a in page.links if a.get("class") == "cancel"]
    assert len(cancel) == 1 and "Ask me later</a>" in check.text
    # going round the interstitial leads back to it
    _, again = client.follow(site.urls["HOME_URL"])
    assert Page(again.text).title == "Security Check"
    chain, home = client.follow(absolute(site, check, cancel[0]["href"]))
    assert Page(home.text).title == "Xfinity My Account"
    assert chain[-1][1] == site.urls["HOME_URL"]
    assert site.password_submissions == 1


def test_access_denied_everywhere(make_site):
    site = make_site(scenario="access_denied")
    client = Client()
    urls = [site.urls["HOME_URL"], site.urls["LOGIN_URL"], site.urls["USAGE_JSON_URL"],
            site.urls["LEGACY_USAGE_JSON_URL"], site.urls["LOGIN_URL"][:-len("/login")] + "/oauth/authorize"]
    for url in urls:
        answer = client.request(url)
        assert answer.status == 403, url
        assert "<TITLE>Access Denied</TITLE>" in answer.text
        assert "You don't have permission to access" in answer.text
        assert re.search(r"Reference #18\.[0-9a-f.]+", answer.text)
    posted = client.request(site.urls["LOGIN_URL"], {"user": DEMO_USERNAME, "passwd": "x"})
    assert posted.status == 403 and "Access Denied" in posted.text
    assert len(site.requests) == len(urls) + 1 and site.injected == []


def test_unlimited(make_site):
    site = make_site(scenario="unlimited", today=TODAY)
    client = logged_in(site)
    body = client.request(site.urls["USAGE_JSON_URL"], headers={"x-xsrf-token": xsrf(client)}).json()
    for month in body["usageMonths"]:
        assert month["policy"] == "unlimited" and month["allowableUsage"] == 0
    assert body["usageMonths"][-1]["homeUsage"] == 424.0
    meter = client.request(site.urls["HOME_URL"][:-1] + METER_PATH).json()
    assert meter["plan"] == "unlimited" and meter["allowance"] is None and meter["used"] == 424.0
    assert site.expected_reading() == {"units": "GB", "used": 424.0, "total": None}


def test_unlimited_404(make_site):
    site = make_site(scenario="unlimited_404")
    client = logged_in(site)
    for url, headers in ((site.urls["USAGE_JSON_URL"], {"x-xsrf-token": xsrf(client)}),
                         (site.urls["LEGACY_USAGE_JSON_URL"], {})):
        answer = client.request(url, headers=headers)
        assert answer.status == 404 and answer.headers["Content-Type"] == "application/json"
        assert answer.json() == {"code": "NOT_FOUND", "message": "Plan does not support the usage meter feature."}
    assert Client().request(site.urls["LEGACY_USAGE_JSON_URL"]).status == 401
    assert site.expected_reading() == {"units": "GB", "used": None, "total": None}


def test_json_gone(make_site):
    site = make_site(scenario="json_gone", today=TODAY)
    client = logged_in(site)
    for url in (site.urls["USAGE_JSON_URL"], site.urls["LEGACY_USAGE_JSON_URL"]):
        answer = client.request(url, headers={"x-xsrf-token": xsrf(client)})
        assert answer.status == 404 and answer.headers["Content-Type"].startswith("text/html")
        assert "<html" in answer.text
    meter = client.request(site.urls["HOME_URL"][:-1] + METER_PATH)
    assert meter.status == 200 and meter.json()["months"][-1] == {"label": "Nov 2026", "used": 424.0}
    assert site.expected_reading() == {"units": "GB", "used": 424.0, "total": 1229.0}


def test_expire_sessions(normal):
    client = logged_in(normal)
    assert client.request(normal.urls["LEGACY_USAGE_JSON_URL"]).status == 200
    normal.expire_sessions()
    assert client.request(normal.urls["LEGACY_USAGE_JSON_URL"]).status == 401
    assert client.request(normal.urls["HOME_URL"][:-1] + METER_PATH).status == 401
    chain, answer = client.follow(normal.urls["HOME_URL"])
    assert [status for status, _ in chain] == [302, 302, 200]
    assert Page(answer.text).fields["flowStep"] == "username"
    assert Page(login(normal, client).text).title == "Xfinity My Account"


def test_password_never_logged(normal, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    logged_in(normal)
    login(normal, Client(), password="wrong-password-456")
    assert caplog.records  # the debug log is there, without secrets
    assert DEMO_PASSWORD not in caplog.text and "wrong-password-456" not in caplog.text
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    for _, _, target, headers in normal.requests:
        assert DEMO_PASSWORD not in target and DEMO_PASSWORD not in json.dumps(headers)
    assert DEMO_PASSWORD not in repr(normal)


# -- faults ------------------------------------------------------------------


def legacy_url(site):
    return site.urls["LEGACY_USAGE_JSON_URL"]


def test_fault_blank(make_site):
    site = make_site(faults=[Fault("/login", "blank")])
    client = Client()
    _, answer = client.follow(site.urls["HOME_URL"])
    assert answer.status == 200 and answer.body == b"" and answer.headers["Content-Type"].startswith("text/html")
    assert site.injected == [("/login", "blank")]
    again = client.request(answer.url)
    assert Page(again.text).title == "Sign in to Xfinity"


@pytest.mark.parametrize("kind,status,title", [("error500", 500, "500 Internal Server Error"),
                                               ("error503", 503, "503 Service Unavailable")])
def test_fault_errors(make_site, kind, status, title):
    site = make_site(faults=[Fault("/", kind, count=2)])
    for _ in range(2):
        answer = Client().request(site.urls["HOME_URL"])
        assert answer.status == status and Page(answer.text).title == title
    assert Client().request(site.urls["HOME_URL"]).status == 302
    assert site.injected == [("/", kind)] * 2


def test_fault_reset(make_site):
    site = make_site(faults=[Fault(LEGACY_PATH, "reset")])
    port = urlsplit(site.urls["HOME_URL"]).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        with pytest.raises(ConnectionResetError):
            conn.request("GET", LEGACY_PATH)
            conn.getresponse()
    finally:
        conn.close()
    assert site.injected == [(LEGACY_PATH, "reset")]
    assert Client().request(legacy_url(site)).status == 401


def test_fault_slow(make_site):
    """The slow answer keeps a client that waits less than slow_seconds waiting; it still comes, once."""
    site = make_site(faults=[Fault(LEGACY_PATH, "slow", count=2)], slow_seconds=1.0)
    with pytest.raises(OSError, match="timed out"):
        urlopen(legacy_url(site), timeout=0.2)
    answer = Client().request(legacy_url(site))  # slow too, and then answered as usual
    assert answer.status == 401 and answer.json()["code"] == "UNAUTHORIZED"
    assert site.injected == [(LEGACY_PATH, "slow"), (LEGACY_PATH, "slow")]
    Client().request(legacy_url(site))  # the fault is used up
    assert len(site.injected) == 2


def test_fault_truncated(make_site):
    site = make_site(faults=[Fault(LEGACY_PATH, "truncated")])
    client = logged_in(site)
    half = client.request(legacy_url(site))
    whole = client.request(legacy_url(site))
    assert half.status == 200 and whole.status == 200
    assert half.headers["Content-Type"] == "application/json"
    assert half.body == whole.body[:len(whole.body) // 2]
    with pytest.raises(ValueError):
        json.loads(half.body)
    assert len(json.loads(whole.body)["usageMonths"]) == 6
    assert site.injected == [(LEGACY_PATH, "truncated")]


def test_fault_truncated_html(make_site):
    site = make_site(faults=[Fault("/login", "truncated")])
    client = Client()
    _, cut = client.follow(site.urls["HOME_URL"])
    whole = client.request(cut.url)
    assert cut.status == 200 and len(whole.body) > 100
    assert cut.body == whole.body[:len(whole.body) // 2]


def test_fault_no_usage_months(make_site):
    site = make_site(faults=[Fault(LEGACY_PATH, "no_usage_months"), Fault("/", "no_usage_months")])
    client = Client()
    assert client.request(site.urls["HOME_URL"]).status == 302  # not JSON: answered normally
    client = logged_in(site)
    body = client.request(legacy_url(site)).json()
    assert "usageMonths" not in body and body["accountNumber"].startswith("8499")
    assert set(body) == TOP_FIELDS - {"usageMonths"}
    assert len(client.request(legacy_url(site)).json()["usageMonths"]) == 6
    assert ("/", "no_usage_months") in site.injected and (LEGACY_PATH, "no_usage_months") in site.injected


def test_fault_access_denied(make_site):
    site = make_site(faults=[Fault("/oauth/authorize", "access_denied", host="login")])
    _, answer = Client().follow(site.urls["HOME_URL"])
    assert answer.status == 403 and "<TITLE>Access Denied</TITLE>" in answer.text
    _, answer = Client().follow(site.urls["HOME_URL"])
    assert answer.status == 200 and Page(answer.text).title == "Sign in to Xfinity"


def test_fault_host_filter(make_site):
    site = make_site(faults=[Fault("/login", "error503", host="customer")])
    _, answer = Client().follow(site.urls["HOME_URL"])
    assert answer.status == 200 and site.injected == []


def run_requests(site, n=40):
    client = Client()
    for i in range(n):
        try:
            client.request(site.urls["HOME_URL"] + f"page{i}")
        except (ConnectionError, http.client.HTTPException, OSError):
            pass
    return site.injected


def test_random_faults_reproducible(make_site):
    kinds = ["blank", "error500", "error503", "truncated", "access_denied"]
    first = run_requests(make_site(fault_rate=0.5, fault_kinds=kinds, seed=7))
    second = run_requests(make_site(fault_rate=0.5, fault_kinds=kinds, seed=7))
    other = run_requests(make_site(fault_rate=0.5, fault_kinds=kinds, seed=8))
    assert first == second
    assert first != other
    assert 5 < len(first) < 35
    assert {kind for _, kind in first} <= set(kinds) and len({kind for _, kind in first}) > 2
    assert all(path.startswith("/page") for path, _ in first)


def test_random_faults_all_kinds_by_default(make_site):
    site = make_site(fault_rate=1.0, seed=3, slow_seconds=0.01)
    run_requests(site, 60)
    assert {kind for _, kind in site.injected} == set(FAULT_KINDS)


def test_random_faults_on_both_hosts(make_site):
    site = make_site(fault_rate=1.0, fault_kinds=["error503"], seed=1)
    assert Client().request(site.urls["HOME_URL"]).status == 503
    assert Client().request(site.urls["LOGIN_URL"]).status == 503
    assert site.injected == [("/", "error503"), ("/login", "error503")]


def test_password_counted_even_when_faulted(make_site):
    site = make_site(faults=[Fault("/login", "error503", count=1)])
    client = Client()
    # step 1 page is fetched first: the fault hits that GET
    assert client.follow(site.urls["HOME_URL"])[1].status == 503
    answer = login(site, client)
    assert Page(answer.text).title == "Xfinity My Account" and site.password_submissions == 1


# -- the command line --------------------------------------------------------


def test_main_entry_point():
    proc = subprocess.Popen([sys.executable, "-m", "xfinity_usage.simulator", "--scenario", "unlimited",
                             "--fault-rate", "0", "--seed", "1", "--today", "2026-11-15"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["username"] == DEMO_USERNAME and info["password"] == DEMO_PASSWORD
        assert info["scenario"] == "unlimited"
        assert set(info["urls"]) == {"HOME_URL", "LOGIN_URL", "USAGE_JSON_URL", "SC_USAGE_JSON_URL",
                                     "LEGACY_USAGE_JSON_URL", "USAGE_PAGE_URL", "ACCOUNT_URL", "BILLING_CONTEXT_URL"}
        assert Client().request(info["urls"]["LEGACY_USAGE_JSON_URL"]).status == 401
        assert Client().request(info["urls"]["HOME_URL"]).status == 302
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == "" and DEMO_PASSWORD not in err


def test_main_rejects_unknown_fault_kind():
    proc = subprocess.run([sys.executable, "-m", "xfinity_usage.simulator", "--fault-kinds", "blank,boom"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "boom" in proc.stderr
