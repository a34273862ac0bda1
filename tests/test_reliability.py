"""Faults in real browsers: transient ones are survived with the right figure, permanent ones fail once.

The transient faults run here once per kind, the steps rotated so that each step is hit too; every
(step, kind) pair runs against a fake browser in ``tests/test_fault_matrix.py``.
"""
import pytest

from xfinity_usage import AccessDeniedError, BadCredentialsError, SiteUnavailableError
from xfinity_usage.sources.site import Timeouts
from xfinity_usage.simulator import Fault

from .fixtures_clients import FAST, in_shared_browser

# The whole matrix runs in the session's running browsers (fresh cookies each time).
pytestmark = [pytest.mark.e2e, in_shared_browser]

CSP = "/apis/csp/account/me/services/internet/usage"
LEGACY = "/apis/services/internet/usage"
STEPS = {  # path -> host
    "/": "customer",
    "/oauth/authorize": "login",
    "/login": "login",
    "/oauth/callback": "customer",
    CSP: "customer",
}
#: One real-browser run per transient fault kind, on a step each (every step at least once).
TRANSIENT_IN_A_BROWSER = [
    ("/", "blank"),
    ("/oauth/authorize", "error500"),
    ("/login", "truncated"),  # half a sign-in page: no form, an unrecognised page until reloaded
    ("/oauth/callback", "reset"),  # after a click: Chromium shows this reset (most reset GETs it retries unseen)
    (CSP, "error503"),
    ("/login", "slow"),  # the sign-in page and the answer to the username, each late
]


#: The browser of this module's runs unless a test chooses one (also read by tests/scheduling.py).
SHARED_BROWSER = "chrome-headless"


@pytest.fixture
def make_client(make_client):
    """The suite's client factory with the module's short waits unless a test chooses its own, in
    Chromium unless a test chooses its browser: the faults above were picked for what Chromium shows."""
    def make(site, **kwargs):
        kwargs.setdefault("timeouts", FAST)
        kwargs.setdefault("browser_name", SHARED_BROWSER)
        return make_client(site, **kwargs)

    return make


def assert_right(reading, site):
    assert {k: reading[k] for k in ("units", "used", "total")} == site.expected_reading()


@pytest.mark.parametrize("path,kind", TRANSIENT_IN_A_BROWSER)
def test_transient_fault_in_a_real_browser(make_site, make_client, path, kind):
    """Survived with the right figure. 0.5 s is still a slow answer: five of the flow's polls, and
    hundreds of times the 1 to 2 ms the simulated site usually takes."""
    site = make_site(faults=[Fault(path, kind, count=2, host=STEPS[path])], slow_seconds=0.5)
    assert_right(make_client(site).run(), site)
    assert (path, kind) in site.injected  # a slow or truncated answer may well be used at once
    assert 1 <= site.password_submissions <= 2


@pytest.mark.parametrize("kind", ["truncated", "no_usage_months", "error503"])
def test_current_endpoint_failing_falls_back_to_legacy(make_site, make_client, kind):
    site = make_site(faults=[Fault(CSP, kind, count=100)])
    reading = make_client(site).run()
    assert_right(reading, site)
    assert "usageMonths" in reading["raw"]
    assert any(r[2].startswith(LEGACY) for r in site.requests)


def test_both_endpoints_failing_falls_back_to_the_page(make_site, make_client):
    site = make_site(faults=[Fault(CSP, "no_usage_months", count=100), Fault(LEGACY, "truncated", count=100)])
    reading = make_client(site).run()
    assert_right(reading, site)
    assert reading["raw"]["source"] == "usage-page"


def test_site_down_everywhere_fails_cleanly(make_site, make_client):
    site = make_site(faults=[Fault("/", "error503", count=1000)])
    with pytest.raises(SiteUnavailableError, match="try again later"):
        make_client(site, retries=2).run()
    assert site.password_submissions == 0


def test_access_denied_mid_login_is_not_retried(make_site, make_client):
    site = make_site(faults=[Fault("/login", "access_denied", count=1)])
    with pytest.raises(AccessDeniedError):
        make_client(site).run()
    assert site.password_submissions == 0
    assert len([r for r in site.requests if r[2].startswith("/login")]) == 1


def test_bad_password_after_a_transient_fault_is_submitted_once(make_site, make_client):
    site = make_site(faults=[Fault("/", "error500", count=1)])
    with pytest.raises(BadCredentialsError):
        make_client(site, password="not-the-password").run()
    assert site.password_submissions == 1


def test_deadline_bounds_the_run(make_site, make_client):
    """Ten retries of pages slower than the whole run: the run's deadline, not the retries, ends it.

    The home page and the sign-in page take 3 s each, so no password can be typed within 4 s
    however fast the machine is."""
    site = make_site(faults=[Fault("/", "slow", count=1000), Fault("/login", "slow", count=1000)],
                     slow_seconds=3.0)
    with pytest.raises(SiteUnavailableError, match="gave up after 4 s"):
        make_client(site, timeout=4, retries=10).run()
    assert site.password_submissions == 0


@pytest.mark.parametrize("kind", ["blank", "error503", "reset", "truncated"])
def test_transient_fault_on_the_usage_page_step(make_site, make_client, kind):
    """With the JSON endpoints gone, faults on the page's own data request are survived too."""
    site = make_site(scenario="json_gone", faults=[Fault("/apis/usage-meter/data", kind, count=4)])
    reading = make_client(site).run()
    assert_right(reading, site)
    assert reading["raw"]["source"] == "usage-page"


@pytest.mark.parametrize("browser", ["firefox-headless", "phantomjs"])
@pytest.mark.parametrize("kind", ["reset", "error503", "blank"])
def test_fault_after_a_click_in_other_browsers(make_site, make_client, browser, kind):
    """geckodriver raises on a click whose navigation ends on an error page: that is transient too.

    PhantomJS waits out a reset connection until the step times out: a short step here.
    """
    site = make_site(faults=[Fault("/login", kind, count=2, host="login", method="POST")])
    step = 3.0 if browser == "phantomjs" else 5.0  # a PhantomJS page takes well under 1 s here
    client = make_client(site, browser_name=browser, timeout=120,
                         timeouts=Timeouts(step=step, other_page_grace=2.0, poll=0.05))
    assert_right(client.run(), site)
    assert [k for _, k in site.injected] == [kind, kind]
    assert site.password_submissions <= 2
