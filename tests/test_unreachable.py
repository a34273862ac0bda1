"""A site that cannot be reached is named at once (connection refused, name not resolved,
certificate not trusted), in the login machine and in every real browser."""
import logging
import socket

import pytest
from selenium.common.exceptions import WebDriverException

from xfinity_usage.errors import SiteUnavailableError
from xfinity_usage.sources.login import Login
from xfinity_usage.sources.pages import UNSAFE_PORT, Timeouts, network_error, probe
from xfinity_usage.retry import Deadline
from xfinity_usage.secrets import Secret

from .fakedriver import HOME, FakeClock, FakeDriver, state
from .fixtures_browsers import ENGINES
from .fixtures_clients import in_shared_browser


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("text,name", [
    ("unknown error: net::ERR_CONNECTION_REFUSED", "connection refused"),
    ("Reached error page: about:neterror?e=connectionFailure&u=http%3A//x/", "connection refused"),
    ("unknown error: net::ERR_NAME_NOT_RESOLVED", "name not resolved"),
    ("Reached error page: about:neterror?e=dnsNotFound&u=http%3A//x/", "name not resolved"),
    ("unknown error: net::ERR_CERT_AUTHORITY_INVALID", "certificate not trusted"),
    ("Reached error page: about:certerror?e=nssFailure2&u=https%3A//x/", "certificate not trusted"),
    ("net::ERR_CONNECTION_RESET", "connection reset"),
    ("unknown error: net::ERR_UNSAFE_PORT", UNSAFE_PORT),
    ("Reached error page: about:neterror?e=deniedPortAccess&u=http%3A//127.0.0.1%3A6000/", UNSAFE_PORT),
    # any other error page, named by its code
    ("Reached error page: about:neterror?e=fileNotFound&u=file%3A///x", "browser error page fileNotFound"),
    ("unknown error: net::ERR_ADDRESS_INVALID", "browser error page ERR_ADDRESS_INVALID"),
    ("chrome-error://chromewebdata/ This page isn't working", "browser error page"),
    ("timeout: Timed out receiving message from renderer", None),
    ("about:blank", None),
])
def test_network_error_names(text, name):
    assert network_error(text) == name


def test_probe_names_what_stops_a_connection():
    assert probe(f"http://127.0.0.1:{free_port()}/") == "connection refused"
    assert probe("http://nonexistent.invalid/") == "name not resolved"
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        assert probe(f"http://127.0.0.1:{listening.getsockname()[1]}/") is None


# ---------------------------------------------------------------- the login machine


def chrome_error_page(code):
    return state("chrome-error://chromewebdata/", "127.0.0.1",
                 f"This site can't be reached 127.0.0.1 refused to connect. {code} Reload")


def run_login(driver, clock, retries=3):
    return Login(driver, HOME, "me", Secret("pw"), Deadline(600.0, clock=clock), retries=retries,
                 timeouts=Timeouts(step=30.0, other_page_grace=5.0, poll=0.5), clock=clock, sleep=clock.sleep)


def test_refused_connection_is_named_and_retried_without_waiting_out_a_step():
    clock = FakeClock(1000.0)
    driver = FakeDriver().on("get", HOME, WebDriverException("unknown error: net::ERR_CONNECTION_REFUSED"))
    driver.shown = [chrome_error_page("ERR_CONNECTION_REFUSED")]
    with pytest.raises(SiteUnavailableError, match="connection refused"):
        run_login(driver, clock).run()
    assert driver.count("get", HOME) == 4  # the first try and three retries
    assert clock.now - 1000.0 < 15  # backoff only: no 30 s step waited out


def test_firefox_error_page_that_hides_its_state_is_an_error_at_once():
    clock = FakeClock(1000.0)
    failure = WebDriverException("Reached error page: about:neterror?e=dnsNotFound&u=http%3A//x/")
    driver = FakeDriver().on("get", HOME, failure)
    driver.shown = [state(HOME, "", "", ready="loading")]  # what a privileged error page may show
    with pytest.raises(SiteUnavailableError, match="name not resolved"):
        run_login(driver, clock).run()
    assert clock.now - 1000.0 < 15


@pytest.mark.parametrize("failure", [
    "Reached error page: about:neterror?e=deniedPortAccess&u=http%3A//x/",  # Firefox
    "unknown error: net::ERR_UNSAFE_PORT",                                   # Chromium
])
def test_a_port_the_browser_refuses_is_named_at_once_and_not_retried(failure):
    clock = FakeClock(1000.0)
    driver = FakeDriver().on("get", HOME, WebDriverException(failure))
    driver.shown = [state(HOME, "", "", ready="loading")]  # what a privileged error page may show
    with pytest.raises(SiteUnavailableError, match="refuses to open this port"):
        run_login(driver, clock).run()
    assert driver.count("get", HOME) == 1 and clock.now - 1000.0 < 1


def test_an_unknown_error_page_is_an_error_named_by_its_code_not_loading():
    clock = FakeClock(1000.0)
    failure = WebDriverException("Reached error page: about:neterror?e=brandNewError&u=http%3A//x/")
    driver = FakeDriver().on("get", HOME, failure)
    driver.shown = [state(HOME, "", "", ready="loading")]
    with pytest.raises(SiteUnavailableError, match="browser error page brandNewError"):
        run_login(driver, clock).run()
    assert driver.count("get", HOME) == 4 and clock.now - 1000.0 < 15  # retried, no step waited out


def test_untrusted_certificate_is_not_retried():
    clock = FakeClock(1000.0)
    driver = FakeDriver().on("get", HOME, WebDriverException("unknown error: net::ERR_CERT_AUTHORITY_INVALID"))
    driver.shown = [chrome_error_page("NET::ERR_CERT_AUTHORITY_INVALID")]
    with pytest.raises(SiteUnavailableError, match="certificate not trusted"):
        run_login(driver, clock).run()
    assert driver.count("get", HOME) == 1


# ---------------------------------------------------------------- real browsers


def urls_at(base):
    return {"HOME_URL": base + "/", "LOGIN_URL": base + "/login", "USAGE_JSON_URL": base + "/apis/csp",
            "LEGACY_USAGE_JSON_URL": base + "/apis/legacy", "USAGE_PAGE_URL": base + "/#/services/internet"}


@pytest.mark.e2e
@in_shared_browser  # what the page does, not the browser's life: the session's running browser of each kind
@pytest.mark.parametrize("where,name", [("refused", "connection refused"), ("dns", "name not resolved")])
@pytest.mark.parametrize("browser_name", ENGINES)
def test_every_browser_names_an_unreachable_site(browser_name, make_client, where, name):
    base = f"http://127.0.0.1:{free_port()}" if where == "refused" else "http://xfinity-usage-test.invalid"
    client = make_client(urls_at(base), browser_name=browser_name, timeout=60)
    with pytest.raises(SiteUnavailableError) as info:
        client.read()
    assert name in str(info.value) and info.value.exit_code == 6


#: Ports both Chromium and Firefox refuse to open (their restricted-port lists).
UNSAFE_PORTS = (6000, 6665, 6666, 6667, 6668, 6669, 6697)


def unsafe_port_site():
    """The simulated site on the first free port the browsers refuse."""
    from xfinity_usage.simulator import SimulatedSite

    for port in UNSAFE_PORTS:
        try:
            return SimulatedSite(port_customer=port).start()
        except OSError:
            continue
    pytest.fail(f"none of the ports {UNSAFE_PORTS} is free on 127.0.0.1")


@pytest.mark.e2e
@in_shared_browser
@pytest.mark.parametrize("browser_name", [name for name in ENGINES if name != "phantomjs"])
def test_every_browser_names_a_port_it_refuses_at_once(browser_name, make_client, caplog):
    """Firefox's about:neterror?e=deniedPortAccess, Chromium's ERR_UNSAFE_PORT: named, not waited out
    as a page that is still loading (it was: every 30 s step, 128 s in all)."""
    import time

    site = unsafe_port_site()
    try:
        client = make_client(site, browser_name=browser_name, timeout=60)
        with caplog.at_level(logging.INFO, logger="xfinity_usage"), pytest.raises(SiteUnavailableError) as info:
            client.read()
        ended = time.time()
    finally:
        site.stop()
    assert UNSAFE_PORT in str(info.value) and info.value.exit_code == 6
    signing_in = next(r.created for r in caplog.records if r.getMessage() == "signing in")
    assert ended - signing_in < 15, f"{ended - signing_in:.1f} s from the sign-in's start (the browser's start aside)"


# ---------------------------------------------------------------- a browser that dies


@pytest.mark.parametrize("message", [
    "invalid session id: session deleted as the browser has closed the connection",
    "Failed to decode response from marionette",
    "Tried to run command without establishing a connection",
    "disconnected: not connected to DevTools",
])
def test_a_dead_browser_is_a_browser_error_not_an_error_page(message):
    from xfinity_usage.errors import BrowserError

    clock = FakeClock(1000.0)
    driver = FakeDriver().on("get", HOME, WebDriverException(message))
    with pytest.raises(BrowserError, match="the browser crashed or quit during the run"):
        run_login(driver, clock).run()
    assert driver.count("get", HOME) == 1  # nothing retried
