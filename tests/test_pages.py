"""classify(): a pure function from a page's state to its PageKind; and Page.wait_for on a fake clock."""
import pytest

from xfinity_usage.sources import pages
from xfinity_usage.sources.pages import Page, PageKind, Timeouts, classify, origin
from xfinity_usage.retry import Deadline

from . import fakedriver as fake
from .fakedriver import HOME

BAD = "The Xfinity ID or password you entered was incorrect. Please try again."


def shown(**kw):
    return dict({"shown": True, "disabled": False, "text": ""}, **kw)


def page(url=HOME, title="Xfinity My Account", text="Welcome back", ready="complete", html=5000, **fields):
    return dict(url=url, title=title, text=text, ready=ready, html=html, **fields)


LOGIN = "https://login.example.com/login?continue=x"

CASES = [
    # access denied: Akamai's page, by title or by its text, whatever else it holds
    (page(title="Access Denied"), PageKind.ACCESS_DENIED),
    (page(title="", text="Access Denied You don't have permission"), PageKind.ACCESS_DENIED),
    (page(title="Access Denied", user=shown()), PageKind.ACCESS_DENIED),
    # server and browser error pages
    (page(title="503 Service Unavailable"), PageKind.ERROR),
    (page(title="500 Internal Server Error"), PageKind.ERROR),
    (page(title="502 Bad Gateway"), PageKind.ERROR),
    (page(url="chrome-error://chromewebdata/", title="127.0.0.1"), PageKind.ERROR),
    (page(url="about:neterror?e=connectionFailure", title="Problem loading page"), PageKind.ERROR),
    (page(url="about:blank", title="", text="", html=30), PageKind.ERROR),
    (page(title="This site can\u2019t be reached", ready="loading"), PageKind.ERROR),
    # blank: complete, no text, little markup (an app shell not yet rendered is longer)
    (page(title="", text="", html=39), PageKind.BLANK),
    (page(title="", text="   ", html=199), PageKind.BLANK),
    (page(title="Xfinity My Account", text="", html=1500), PageKind.HOME),
    # loading: no state at all, or not complete yet
    ({}, PageKind.LOADING),
    (page(ready="interactive"), PageKind.LOADING),
    (page(url=LOGIN, ready="loading", text=""), PageKind.LOADING),
    # account actions
    (page(url=LOGIN, title="Verify your identity", mfa=shown()), PageKind.MFA),
    (page(url=LOGIN, title="Anything", reset=shown()), PageKind.PASSWORD_RESET),
    (page(url=LOGIN, title="Reset your password"), PageKind.PASSWORD_RESET),
    (page(url=LOGIN, title="Your password has expired"), PageKind.PASSWORD_RESET),
    (page(url=LOGIN, title="Security Check", cancel=shown(text="Ask me later")), PageKind.SECURITY_CHECK),
    (page(url=LOGIN, title="Security Check"), PageKind.OTHER),  # no way to skip it: not one we know
    # the sign-in forms
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(disabled=True), passwd=shown(), hint=shown(text=BAD)),
     PageKind.BAD_PASSWORD),
    (page(url=LOGIN, title="Sign in to Xfinity", text="Sign in " + BAD, user=shown(), passwd=shown()),
     PageKind.BAD_PASSWORD),
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(disabled=True), passwd=shown()), PageKind.PASSWORD),
    (page(url=LOGIN, title="Sign in to Xfinity", user=None, passwd=shown()), PageKind.PASSWORD),
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(), passwd=shown()), PageKind.ONE_PAGE),
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(), passwd=shown(shown=False)), PageKind.USERNAME),
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(), ready="interactive"), PageKind.USERNAME),
    (page(url=LOGIN, title="Sign in to Xfinity", user=shown(shown=False)), PageKind.OTHER),
    # logged in: the customer host; anything else is not a page we know
    (page(), PageKind.HOME),
    (page(url=HOME + "#/services/internet"), PageKind.HOME),
    (page(url="https://customer.example.com:8443/"), PageKind.OTHER),  # another port is another origin
    (page(url="https://elsewhere.example.com/login", title="Sign in"), PageKind.OTHER),
]


@pytest.mark.parametrize("state,kind", CASES, ids=[f"{k.value}-{i}" for i, (_, k) in enumerate(CASES)])
def test_classify(state, kind):
    assert classify(state, HOME) is kind


def test_every_kind_is_covered():
    assert {kind for _, kind in CASES} == set(PageKind)


def test_classify_is_pure():
    state = page(url=LOGIN, user=shown(), passwd=shown())
    before = repr(state)
    assert classify(state, HOME) is classify(state, HOME) is PageKind.ONE_PAGE
    assert repr(state) == before


def test_fake_pages_are_what_they_say():
    """The fake driver's pages (used by test_login and test_reader) classify as intended."""
    expected = {fake.username_page: PageKind.USERNAME, fake.password_page: PageKind.PASSWORD,
                fake.bad_password_page: PageKind.BAD_PASSWORD, fake.one_page_form: PageKind.ONE_PAGE,
                fake.home_page: PageKind.HOME, fake.usage_page: PageKind.HOME, fake.usage_page_error: PageKind.HOME,
                fake.mfa_page: PageKind.MFA, fake.reset_page: PageKind.PASSWORD_RESET,
                fake.security_check_page: PageKind.SECURITY_CHECK, fake.access_denied_page: PageKind.ACCESS_DENIED,
                fake.error_page: PageKind.ERROR, fake.browser_error_page: PageKind.ERROR,
                fake.blank_page: PageKind.BLANK, fake.loading_page: PageKind.LOADING, fake.other_page: PageKind.OTHER}
    for make, kind in expected.items():
        assert classify(make(), HOME) is kind, make.__name__


def test_page_kind_is_its_name():
    assert PageKind("one_page") is PageKind.ONE_PAGE and str(PageKind.HOME) == "home"
    assert [k for k in PageKind if k.failing] == [PageKind.ERROR, PageKind.BLANK, PageKind.LOADING]


def test_origin():
    assert origin("https://customer.xfinity.com/#/services/internet") == "https://customer.xfinity.com"
    assert origin("http://127.0.0.1:8080/x?y") == "http://127.0.0.1:8080"


def test_timeouts_defaults():
    assert Timeouts() == Timeouts(step=30.0, other_page_grace=5.0, poll=0.1)
    from xfinity_usage.sources.site import Timeouts as FromSite

    assert FromSite is Timeouts


def test_wait_for_other_page_grace():
    clock = fake.FakeClock()
    driver = fake.FakeDriver(fake.other_page())
    p = Page(driver, HOME, Deadline(100, clock=clock), timeouts=Timeouts(step=30, other_page_grace=2, poll=0.5),
             clock=clock, sleep=clock.sleep)
    assert p.wait_for("anything", lambda k: True) is PageKind.OTHER
    assert clock() == 2.0  # settled only after the grace, though `settled` said yes at once


def test_wait_for_gives_up_at_the_step_timeout():
    clock = fake.FakeClock()
    driver = fake.FakeDriver(fake.loading_page())
    p = Page(driver, HOME, Deadline(100, clock=clock), timeouts=Timeouts(step=3, poll=1),
             clock=clock, sleep=clock.sleep)
    assert p.wait_for("never", lambda k: False) is PageKind.LOADING
    assert clock() == 3.0 and driver.state_calls == 4


def test_mask_page_sends_only_real_secrets():
    calls = []

    class Driver:
        def execute_script(self, script, *args):
            calls.append((script, args))

    pages.mask_page(Driver(), ["me@example.com", "", None])
    assert calls == [(pages.MASK_JS, (["me@example.com"],))]
