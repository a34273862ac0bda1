"""How each browser is asked to start (its options), and where Firefox's warm start happens, without
starting one: ``webdriver.Chrome`` / ``webdriver.Firefox`` are replaced by a recorder.

That the browsers honour these options is tests/test_browsers.py's (real starts, windowed included).
"""
from __future__ import annotations

import os

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException

from xfinity_usage import browsers
from xfinity_usage.browsers import warmstart

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


class Recorder:
    """Stands in for a WebDriver class: records each start's options and the profile's files then.
    The browser it gives writes a startup cache and a cookie database into its profile when it quits."""

    def __init__(self, fail: int = 0):
        self.starts: list = []
        self.fail = fail  # how many starts raise WebDriverException first

    def __call__(self, options, service):
        profile = next((a.split("=", 1)[1] for a in options.arguments if a.startswith("--user-data-dir=")), None)
        if "-profile" in options.arguments:
            profile = options.arguments[options.arguments.index("-profile") + 1]
        self.starts.append({"options": options, "files": sorted(os.listdir(profile)) if profile else None})
        if self.fail:
            self.fail -= 1
            raise WebDriverException("the browser exited at once")
        return FakeBrowser(profile)


class FakeBrowser:
    capabilities: dict = {}

    def __init__(self, profile):
        self.profile = profile

    def execute_script(self, script):
        return "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0"

    def execute_cdp_cmd(self, command, params):
        pass

    def set_window_size(self, width, height):
        pass

    def set_page_load_timeout(self, seconds):
        pass

    def quit(self):
        os.makedirs(os.path.join(self.profile, "startupCache"))
        for name in ("cookies.sqlite", "compatibility.ini"):
            with open(os.path.join(self.profile, name), "w") as handle:
                handle.write(name)


def recording(monkeypatch, tmp_path, webdriver_class):
    """A recorder in place of ``webdriver.<webdriver_class>``, with a private cache and a display."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DISPLAY", ":99")
    recorder = Recorder()
    monkeypatch.setattr(webdriver, webdriver_class, recorder)
    return recorder


@pytest.fixture
def chrome(monkeypatch, tmp_path):
    monkeypatch.setattr(browsers, "_chrome_user_agent", lambda binary: UA)
    return recording(monkeypatch, tmp_path, "Chrome")


@pytest.fixture
def firefox(monkeypatch, tmp_path):
    return recording(monkeypatch, tmp_path, "Firefox")


def template_of(tmp_path):
    return warmstart.template_path(browsers.find_browser("firefox"), str(tmp_path / "cache" / "xfinity-usage"))


def test_windowed_chrome_has_no_headless_switch_and_its_own_user_agent(chrome, tmp_path):
    with browsers.open_browser("chrome"):
        pass
    arguments = chrome.starts[0]["options"].arguments
    assert not [a for a in arguments if a.startswith(("--headless", "--user-agent"))]
    assert "--window-size=1024,768" in arguments and "--disable-blink-features=AutomationControlled" in arguments
    assert os.path.basename([a for a in arguments if a.startswith("--user-data-dir=")][0]) == "profile"


def test_headless_chrome_presents_the_windowed_user_agent(chrome):
    with browsers.open_browser("chrome-headless"):
        pass
    arguments = chrome.starts[0]["options"].arguments
    assert "--headless=new" in arguments and f"--user-agent={UA}" in arguments
    assert [a for a in arguments if a.startswith("--disable-features=")] == [  # Chromium honours only one
        "--disable-features=SpareRendererForSitePerProcess,BackForwardCache"]


def test_chrome_is_never_warm_started(chrome, tmp_path):
    with browsers.open_browser("chrome-headless"):
        pass
    assert len(chrome.starts) == 1 and chrome.starts[0]["files"] == []
    assert not (tmp_path / "cache" / "xfinity-usage" / warmstart.FIREFOX_DIR).exists()


def test_windowed_firefox_has_no_headless_switch_and_the_anti_bot_preferences(firefox, tmp_path):
    with browsers.open_browser("firefox", warm_start=False):
        pass
    options = firefox.starts[0]["options"]
    assert len(firefox.starts) == 1 and firefox.starts[0]["files"] == []  # no blank start, no copy
    assert not (tmp_path / "cache" / "xfinity-usage" / warmstart.FIREFOX_DIR).exists()
    assert "-headless" not in options.arguments and "-width=1024" in options.arguments
    assert options.preferences["dom.webdriver.enabled"] is False
    assert options.preferences["fission.autostart"] is False
    assert options.preferences["browser.sessionhistory.max_total_viewers"] == 0
    assert "webSocketUrl" not in options.to_capabilities()


def test_headless_firefox_with_the_network_log_asks_for_bidi(firefox):
    with browsers.open_browser("firefox-headless", network_log=True, warm_start=False):
        pass
    options = firefox.starts[0]["options"]
    assert "-headless" in options.arguments and options.to_capabilities()["webSocketUrl"] is True


def test_firefox_profile_holds_the_template_before_firefox_starts(firefox, tmp_path):
    template = template_of(tmp_path)
    os.makedirs(os.path.join(template, "startupCache"))
    for name in ("compatibility.ini", "extensions.json"):
        with open(os.path.join(template, name), "w") as handle:
            handle.write(name)
    with browsers.open_browser("firefox"):
        pass
    assert [start["files"] for start in firefox.starts] == [["compatibility.ini", "extensions.json", "startupCache"]]


def test_the_first_firefox_start_makes_the_template_from_a_blank_start_first(firefox, tmp_path):
    """No template: a blank headless Firefox starts and quits; what it wrote that is kept (not its
    cookie database) becomes the template, and the run's profile starts with it."""
    with browsers.open_browser("firefox"):
        pass
    blank, run = firefox.starts
    assert "-headless" in blank["options"].arguments and blank["files"] == []
    assert "-headless" not in run["options"].arguments
    assert sorted(os.listdir(template_of(tmp_path))) == ["compatibility.ini", "startupCache"]
    assert run["files"] == ["compatibility.ini", "startupCache"]


def test_a_lock_that_cannot_be_taken_costs_only_the_warm_start(firefox, tmp_path, monkeypatch):
    def no_lock(template, wait=0):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(warmstart, "building", no_lock)
    with browsers.open_browser("firefox-headless"):
        pass
    assert [start["files"] for start in firefox.starts] == [[]]  # no blank start, a cold run


def test_a_failed_template_build_costs_only_the_warm_start(firefox, tmp_path):
    """The blank start fails: no template, and the run's own start goes on (cold)."""
    firefox.fail = 1
    with browsers.open_browser("firefox-headless"):
        pass
    blank, run = firefox.starts
    assert "-headless" in blank["options"].arguments and blank["files"] == [] and run["files"] == []
    assert not os.path.exists(template_of(tmp_path))
