"""The login state machine against a fake driver and a fake clock: every sign-in fault, no browser, no sleeping."""
import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException

from xfinity_usage.errors import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    SiteChangedError,
    SiteUnavailableError,
)
from xfinity_usage.sources.login import Login
from xfinity_usage.sources.pages import (
    SEL_PASSWD,
    SEL_SKIP_SECURITY_CHECK,
    SEL_SUBMIT,
    SEL_USER,
    Timeouts,
)
from xfinity_usage.retry import Backoff, Deadline
from xfinity_usage.secrets import Secret

from .fakedriver import (
    HOME,
    FakeClock,
    FakeDriver,
    access_denied_page,
    bad_password_page,
    blank_page,
    browser_error_page,
    error_page,
    home_page,
    loading_page,
    mfa_page,
    one_page_form,
    other_page,
    password_page,
    reset_page,
    security_check_page,
    username_page,
)

USER = "me@example.com"
PASSWORD = "pw-secret-123"
TIMEOUTS = Timeouts(step=30.0, other_page_grace=5.0, poll=0.5)


@pytest.fixture
def clock():
    return FakeClock(1000.0)


def login(driver, clock, *, retries=3, deadline=600.0, timeouts=TIMEOUTS):
    return Login(driver, HOME, USER, Secret(PASSWORD), Deadline(deadline, clock=clock), retries=retries,
                 timeouts=timeouts, clock=clock, sleep=clock.sleep)


def two_step(driver, after_password=None):
    """HOME leads to the username step, then the password step, then ``after_password`` (home)."""
    driver.on("get", HOME, username_page())
    driver.on("click", SEL_SUBMIT, password_page(), after_password or home_page())
    return driver


def typed(driver, selector):
    return [e[2] for e in driver.log if e[:2] == ("type", selector)]


# -- the happy paths -------------------------------------------------------------------


def test_two_step_form(clock):
    driver = two_step(FakeDriver())
    flow = login(driver, clock)
    flow.run()
    assert typed(driver, SEL_USER) == [USER] and typed(driver, SEL_PASSWD) == [PASSWORD]
    assert driver.count("click", SEL_SUBMIT) == 2
    assert flow.password_submissions == 1
    # "remember me" is ticked through its label, with no doomed click on the checkbox beneath
    assert driver.count("click failed", "#remember_me") == 0 and driver.count("click", "#remember_me_checkbox") == 1
    assert clock.sleeps == []  # every page answered at once: no waiting at all


def test_one_page_form(clock):
    driver = FakeDriver().on("get", HOME, one_page_form()).on("click", SEL_SUBMIT, home_page())
    flow = login(driver, clock)
    flow.run()
    assert typed(driver, SEL_USER) == [USER] and typed(driver, SEL_PASSWD) == [PASSWORD]
    assert flow.password_submissions == 1 and driver.count("click", SEL_SUBMIT) == 1


def test_already_logged_in(clock):
    driver = FakeDriver().on("get", HOME, home_page())
    flow = login(driver, clock)
    flow.run()
    assert flow.password_submissions == 0 and driver.count("click") == 0


def test_security_check_is_skipped(clock):
    driver = FakeDriver().on("get", HOME, username_page())
    driver.on("click", SEL_SUBMIT, password_page(), security_check_page())
    driver.on("click", SEL_SKIP_SECURITY_CHECK, home_page())
    flow = login(driver, clock)
    flow.run()
    assert driver.count("click", SEL_SKIP_SECURITY_CHECK) == 1 and flow.password_submissions == 1


def test_pages_still_loading_are_waited_for(clock):
    driver = FakeDriver().on("get", HOME, [loading_page()] * 4 + [username_page()])
    driver.on("click", SEL_SUBMIT, [loading_page()] * 3 + [password_page()], home_page())
    flow = login(driver, clock)
    flow.run()
    assert flow.password_submissions == 1 and driver.count("get") == 1  # no reload was needed
    assert clock.sleeps == [TIMEOUTS.poll] * 7


def test_page_state_unavailable_counts_as_loading(clock):
    flux = dict(username_page(), raises=True)
    driver = FakeDriver().on("get", HOME, [flux, flux, username_page()])
    driver.on("click", SEL_SUBMIT, password_page(), home_page())
    login(driver, clock).run()
    assert driver.count("get") == 1


# -- pages that end the run ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["first page", "after the username"])
def test_access_denied(clock, when):
    driver = FakeDriver()
    if when == "first page":
        driver.on("get", HOME, access_denied_page())
    else:
        driver.on("get", HOME, username_page()).on("click", SEL_SUBMIT, access_denied_page())
    flow = login(driver, clock)
    with pytest.raises(AccessDeniedError, match="bot protection"):
        flow.run()
    assert flow.password_submissions == 0 and driver.count("get") == 1  # never retried


def test_mfa(clock):
    flow = login(two_step(FakeDriver(), mfa_page()), clock)
    with pytest.raises(AccountActionRequiredError, match="verification code"):
        flow.run()
    assert flow.password_submissions == 1


def test_password_reset_demanded(clock):
    flow = login(two_step(FakeDriver(), reset_page()), clock)
    with pytest.raises(AccountActionRequiredError, match="new password"):
        flow.run()
    assert flow.password_submissions == 1


@pytest.mark.parametrize("form", ["two_step", "one_page"])
def test_bad_password_hint(clock, form):
    driver = FakeDriver()
    if form == "two_step":
        two_step(driver, bad_password_page())
    else:
        driver.on("get", HOME, one_page_form()).on("click", SEL_SUBMIT, one_page_form(
            "The Xfinity ID or password you entered was incorrect. Please try again."))
    flow = login(driver, clock)
    with pytest.raises(BadCredentialsError, match="rejected") as info:
        flow.run()
    assert PASSWORD not in str(info.value)
    assert flow.password_submissions == 1


def test_password_asked_again_without_a_hint(clock):
    """The password step shown again after an answered submission: the credentials are wrong."""
    driver = FakeDriver().on("get", HOME, username_page())
    driver.on("click", SEL_SUBMIT, password_page(), dict(password_page(), url=HOME + "login?again"))
    flow = login(driver, clock)
    with pytest.raises(BadCredentialsError, match="asked for the password again"):
        flow.run()
    assert flow.password_submissions == 1


# -- transient failures are retried ------------------------------------------------------


@pytest.mark.parametrize("failing", [error_page, blank_page, browser_error_page])
def test_failing_first_page_is_reloaded(clock, failing):
    driver = two_step(FakeDriver())
    driver.scripts[("get", HOME)] = [failing(), failing(), username_page()]
    flow = login(driver, clock)
    flow.run()
    assert driver.count("get", HOME) == 3  # a browser error page is left for HOME_URL
    assert flow.password_submissions == 1
    assert len(clock.sleeps) == 2  # one backoff per retry, and nothing else


def test_page_loading_past_the_step_timeout_is_reloaded(clock):
    driver = two_step(FakeDriver())
    driver.scripts[("get", HOME)] = [loading_page(), username_page()]
    start = clock()
    login(driver, clock).run()
    assert driver.count("get", HOME) == 2
    assert clock() - start >= TIMEOUTS.step  # it waited one whole step, on the fake clock


def test_error_after_the_password_resubmits_it(clock):
    """A password submission answered by an error page got no verdict: it is typed again, once."""
    driver = FakeDriver().on("get", HOME, username_page(), username_page())
    driver.on("click", SEL_SUBMIT, password_page(), error_page(HOME + "login"), password_page(), home_page())
    flow = login(driver, clock)
    flow.run()
    assert flow.password_submissions == 2
    assert driver.count("get", HOME) == 2  # the failed sign-in page is left for HOME_URL


def test_bad_password_after_a_transient_fault_is_submitted_once(clock):
    driver = two_step(FakeDriver(), bad_password_page())
    driver.scripts[("get", HOME)] = [error_page(), username_page()]
    flow = login(driver, clock)
    with pytest.raises(BadCredentialsError):
        flow.run()
    assert flow.password_submissions == 1


@pytest.mark.parametrize("failure", [WebDriverException("Reached error page"), TimeoutException("navigation")])
def test_click_that_fails_under_a_navigation_is_transient(clock, failure):
    """geckodriver raises on a click whose navigation ends on an error page."""
    driver = FakeDriver().on("get", HOME, username_page())
    driver.on("click", SEL_SUBMIT, password_page(), failure, password_page(), home_page())
    flow = login(driver, clock)
    flow.run()
    assert flow.password_submissions == 2 and driver.count("get", HOME) == 2


def test_page_fetch_that_raises_shows_as_the_page(clock):
    driver = two_step(FakeDriver(browser_error_page()))
    driver.scripts[("get", HOME)] = [TimeoutException("page load"), username_page()]
    login(driver, clock).run()
    assert driver.count("get", HOME) == 2


def test_progress_resets_the_failure_count(clock):
    """Two failures before the sign-in form and two after it, with retries=2: progress earns new retries."""
    dashboard = HOME + "dashboard"
    driver = FakeDriver().on("get", HOME, error_page(), error_page(), username_page())
    driver.on("click", SEL_SUBMIT, password_page(), error_page(dashboard))
    driver.on("get", dashboard, error_page(dashboard), home_page(dashboard))
    flow = login(driver, clock, retries=2)
    flow.run()
    assert flow.password_submissions == 1
    assert driver.count("get", HOME) == 3 and driver.count("get", dashboard) == 2
    assert len(clock.sleeps) == 4


@pytest.mark.parametrize("failing,kind", [(error_page, "error"), (blank_page, "blank")])
def test_site_down_everywhere_gives_up(clock, failing, kind):
    driver = FakeDriver().on("get", HOME, failing())
    flow = login(driver, clock, retries=2)
    with pytest.raises(SiteUnavailableError, match=rf"kept failing while logging in \({kind} page\); try again later"):
        flow.run()
    assert driver.count("get", HOME) == 3 and flow.password_submissions == 0
    assert len(clock.sleeps) == 2


def test_loading_forever_gives_up(clock):
    driver = FakeDriver().on("get", HOME, loading_page())
    with pytest.raises(SiteUnavailableError, match=r"\(loading page\)"):
        login(driver, clock, retries=1).run()
    assert driver.count("get", HOME) == 2


def test_backoff_is_injected_and_fresh_after_progress(clock):
    made = []

    def backoff():
        made.append(Backoff(base=1.0, sleep=clock.sleep))
        return made[-1]

    driver = two_step(FakeDriver())
    driver.scripts[("get", HOME)] = [error_page(), username_page()]
    flow = Login(driver, HOME, USER, Secret(PASSWORD), Deadline(600, clock=clock), retries=3, timeouts=TIMEOUTS,
                 clock=clock, sleep=clock.sleep, backoff=backoff)
    flow.run()
    assert made[0].attempt == 1 and len(made) >= 2
    assert 0.5 <= clock.sleeps[0] <= 1.0


# -- the site changed ------------------------------------------------------------------------


def test_unrecognised_login_page_is_site_changed(clock):
    driver = FakeDriver().on("get", HOME, other_page())
    flow = login(driver, clock, retries=1)
    with pytest.raises(SiteChangedError, match=r'form\[name="signin"\].*#user.*\'Sign in\'.*report'):
        flow.run()
    assert driver.count("get") == 2
    # an unrecognised page counts only after its grace period, each time
    polls = [s for s in clock.sleeps if s == TIMEOUTS.poll]
    assert len(polls) == 2 * int(TIMEOUTS.other_page_grace / TIMEOUTS.poll)


def test_unrecognised_page_that_moves_on_is_waited_for(clock):
    driver = two_step(FakeDriver())
    driver.scripts[("get", HOME)] = [[other_page()] * 3 + [username_page()]]
    flow = login(driver, clock)
    flow.run()
    assert driver.count("get") == 1 and flow.password_submissions == 1


def test_missing_field_is_site_changed(clock):
    page = username_page()
    page["elements"] = page["elements"] - {SEL_SUBMIT}
    driver = FakeDriver().on("get", HOME, page)
    with pytest.raises(SiteChangedError, match="#sign_in"):
        login(driver, clock).run()


# -- the deadline ---------------------------------------------------------------------------------


def test_deadline_bounds_the_login(clock):
    driver = FakeDriver().on("get", HOME, loading_page())
    start = clock()
    with pytest.raises(SiteUnavailableError, match="gave up after 45 s while logging in"):
        login(driver, clock, retries=10, deadline=45).run()
    assert clock() - start <= 45 + TIMEOUTS.poll


def test_step_timeout_is_capped_by_the_deadline(clock):
    driver = FakeDriver().on("get", HOME, loading_page())
    with pytest.raises(SiteUnavailableError, match="gave up"):
        login(driver, clock, retries=10, deadline=5, timeouts=Timeouts(step=1000.0)).run()
    assert clock() <= 1000.0 + 5 + TIMEOUTS.poll


def test_remember_me_whose_place_is_unknown_is_clicked_then_its_label(clock):
    driver = two_step(FakeDriver())
    for page in driver.scripts[("get", HOME)]:
        for shown in (page if isinstance(page, list) else [page]):
            shown["on_top"] = {"#remember_me": None}
    login(driver, clock).run()
    assert driver.count("click failed", "#remember_me") == 1 and driver.count("click", "#remember_me_checkbox") == 1
