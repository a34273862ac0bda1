"""End to end: the app route through the CLI (and the library) against SimulatedApp on 127.0.0.1."""
import io
import json
import os
import threading
import time

import pytest

from xfinity_usage.sources.app import AppSource, sign_in
from xfinity_usage.cli.main import Environment, main
from xfinity_usage.errors import ExitCode, SignInExpiredError
from xfinity_usage.retry import Backoff, Deadline
from xfinity_usage.simulator.app import SimulatedApp
from xfinity_usage.sources.tokens import TokenFile

from .fixtures_browsers import share_warm_start


def no_sleep_backoff():
    return Backoff(sleep=lambda seconds: None)


@pytest.fixture
def app():
    with SimulatedApp() as running:
        yield running


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home").mkdir()
    return tmp_path


def run_cli(app, home, *args, stdin="", secret=True, env=None):
    """The CLI against ``app`` in a private ``home``; ``env`` adds environment variables."""
    extra = env or {}
    urls = home / "urls.json"
    urls.write_text(json.dumps(app.urls))
    env = {"HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": share_warm_start(home / "cache"),
           "XDG_DATA_HOME": str(home / "data"), "PATH": os.environ.get("PATH", "")}
    if secret:
        env["XFINITY_CLIENT_SECRET"] = app.client_secret
    env.update(extra)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--site-urls", str(urls), "--no-history", "--retries", "3", *args],
                Environment(env=env, stdout=out, stderr=err, stdin=io.StringIO(stdin)))
    return code, out.getvalue(), err.getvalue()


def token_path(home):
    return home / "config" / "xfinity-usage" / "app-token.json"


def paste_sign_in(app, home, *args, transform=lambda url: url):
    """--app-sign-in where the person pastes what ``transform`` makes of the final address."""
    answers = {}

    class Stdin(io.StringIO):
        def readline(self):
            return transform(app.user_sign_in(answers["url"])) + "\n"

    class Out(io.StringIO):
        def write(self, text):
            if "xerxes-ctrl/oauth/authorize?" in text:
                answers["url"] = next(line for line in text.splitlines() if "/oauth/authorize?" in line)
            return super().write(text)

    urls = home / "urls.json"
    urls.write_text(json.dumps(app.urls))
    env = {"HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CACHE_HOME": share_warm_start(home / "cache"), "XFINITY_CLIENT_SECRET": app.client_secret}
    out, err = io.StringIO(), Out()  # the address and the prompt go to stderr: stdout keeps the reading
    code = main(["--site-urls", str(urls), "--no-history", "--app-sign-in", "-b", "chrome-headless", *args],
                Environment(env=env, stdout=out, stderr=err, stdin=Stdin()))
    return code, out.getvalue(), err.getvalue()


def test_sign_in_by_pasted_url_then_reading(app, home):
    code, out, err = paste_sign_in(app, home)
    assert code == 0, err
    assert "Used 353 of 1230 GB" in out and "signed in" in err
    assert app.state.grants == ["authorization_code"]
    # the next run uses the saved access token: one GraphQL call, no token call
    before = app.requests_to("token")
    code, out, err = run_cli(app, home, "-j", secret=False)
    assert code == 0, err
    reading = json.loads(out)
    assert reading["source"] == "app" and reading["used"] == 353.0 and reading["raw"] == app.usage_answer()
    assert app.requests_to("token") == before


@pytest.mark.parametrize("transform, words", [
    (lambda url: "0.ac.AbCdEf123", "intermediate 0.ac."),
    (lambda url: url.split("code=", 1)[1].split("&")[0][3:], "start with oi-"),
    (lambda url: url.replace("state=", "state=x"), "state does not match"),
])
def test_each_rejected_paste(app, home, transform, words):
    code, out, err = paste_sign_in(app, home, transform=transform)
    assert code == ExitCode.USAGE and words in err
    assert not token_path(home).exists() and app.state.grants == []


@pytest.mark.parametrize("transform", [
    lambda url: url.split("code=", 1)[1],                 # the code with &state=...
    lambda url: url.split("code=", 1)[1].split("&")[0],   # the code alone
    lambda url: f'  "{url}"  ',                           # quotes and whitespace
])
def test_other_paste_forms_sign_in(app, home, transform):
    code, out, err = paste_sign_in(app, home, transform=transform)
    assert code == 0, err


def signed_in(app, home, **kwargs):
    path = str(token_path(home))
    sign_in(path, app.client_secret, app.user_sign_in, urls=app.urls, **kwargs)
    return path


def expire_access_token(path, expires_at=0.0):
    """Set the saved access token's expiry, so the next read must refresh it; returns the token
    file and the tokens as they were saved."""
    files = TokenFile(path)
    tokens, secret = files.load()
    tokens.expires_at = expires_at
    files.save(tokens, secret)
    return files, tokens


def test_expired_access_token_is_refreshed_and_rotation_saved_first(home):
    with SimulatedApp(rotate=True) as app:
        _refresh_with_rotation(app, home)


def _refresh_with_rotation(app, home):
    path = signed_in(app, home)
    files, tokens = expire_access_token(path, time.time() + 200)   # inside the 5-minute margin
    code, out, err = run_cli(app, home, secret=False)
    assert code == 0, err
    fresh, _ = files.load()
    assert fresh.refresh_token != tokens.refresh_token and app.state.grants == ["authorization_code", "refresh_token"]
    assert fresh.refresh_token in app.state.refresh and tokens.refresh_token not in app.state.refresh


def test_401_refreshes_once_and_retries(app, home):
    signed_in(app, home)
    app.expire_access_tokens()
    code, out, err = run_cli(app, home, secret=False)
    assert code == 0, err
    assert app.state.grants.count("refresh_token") == 1 and app.requests_to("graphql") == 2


def test_revoked_refresh_token_is_exit_10_with_one_line(app, home):
    signed_in(app, home)
    expire_access_token(str(token_path(home)))
    app.revoke_refresh_tokens()
    code, out, err = run_cli(app, home)
    assert code == ExitCode.SIGN_IN_EXPIRED == 10
    assert err.count("\n") == 1 and "--app-sign-in" in err and err.startswith("xfinity-usage: sign-in expired:")


def test_no_token_file_with_source_app_says_sign_in(app, home):
    code, out, err = run_cli(app, home, "--source", "app")
    assert code == ExitCode.USAGE and "--app-sign-in" in err


def test_answer_without_usage_is_site_changed(home):
    with SimulatedApp(answer="no_usage") as app:
        signed_in(app, home)
        code, out, err = run_cli(app, home)
    assert code == ExitCode.SITE_CHANGED and "internet.usage" in err


@pytest.mark.parametrize("kwargs, total", [({"unlimited": True}, None), ({"units": "TB"}, 1230.0),
                                           ({"units": "GB"}, 1230.0), ({"months_order": "oldest_first"}, 1230.0)])
def test_unlimited_tb_and_month_order(home, kwargs, total):
    with SimulatedApp(**kwargs) as app:
        signed_in(app, home)
        code, out, err = run_cli(app, home, "-j")
    assert code == 0, err
    reading = json.loads(out)
    assert (reading["used"], reading["total"], reading["units"]) == (353.0, total, "GB")


@pytest.mark.parametrize("endpoint", ["token", "graphql"])
@pytest.mark.parametrize("kind", ["error500", "error503", "reset"])
def test_5xx_and_resets_are_retried(app, home, endpoint, kind):
    path = signed_in(app, home)
    expire_access_token(path)       # so the token endpoint is called too
    app.add_fault(endpoint, kind, count=2)
    slept = []
    reading = AppSource(path, urls=app.urls, backoff=lambda: Backoff(sleep=slept.append)).read(Deadline(30))
    assert reading.used == 353.0 and app.state.injected == [(endpoint, kind)] * 2 and len(slept) == 2


@pytest.mark.parametrize("kind", ["error503", "reset"])
def test_faults_on_the_sign_in_token_call_are_retried(app, home, kind):
    app.add_fault("token", kind)
    path = signed_in(app, home, backoff=no_sleep_backoff)
    assert TokenFile(path).load()[0].access_token and app.state.injected == [("token", kind)]


def test_faults_that_never_end_give_up_as_site_unavailable(app, home):
    signed_in(app, home)
    app.add_fault("graphql", "error503", count=10)
    code, out, err = run_cli(app, home, "--retries", "1", "--timeout", "5")
    assert code == ExitCode.SITE_UNAVAILABLE and "HTTP 503" in err


def test_fault_on_the_authorize_page_reaches_the_person(app, home):
    app.add_fault("authorize", "error503")
    with pytest.raises(RuntimeError):
        signed_in(app, home)
    signed_in(app, home)   # the person tries again


def test_two_runs_at_once_share_one_token_file(app, home):
    path = signed_in(app, home)
    files, _ = expire_access_token(path)
    results, errors = [], []
    start = threading.Barrier(4)

    def one():
        start.wait()
        try:
            results.append(AppSource(path, urls=app.urls).read(Deadline(20)).used)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and results == [353.0] * 4
    # one refresh only: the others waited for the lock and reused its tokens; the rotated token works
    assert app.state.grants.count("refresh_token") == 1
    assert files.load()[0].refresh_token in app.state.refresh
    code, out, err = run_cli(app, home)
    assert code == 0, err


def test_two_processes_at_once_share_one_token_file(app, home):
    import subprocess
    import sys
    path = signed_in(app, home)
    expire_access_token(path)
    urls = home / "urls.json"
    urls.write_text(json.dumps(app.urls))
    env = {"HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config"), "PATH": os.environ.get("PATH", ""),
           "XDG_DATA_HOME": str(home / "data")}
    cmd = [sys.executable, "-m", "xfinity_usage", "--site-urls", str(urls), "--no-history"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    assert app.state.grants.count("refresh_token") == 1


def test_sign_in_code_is_single_use_and_short_lived(home):
    now = [1000.0]
    with SimulatedApp(code_lifetime=30, clock=lambda: now[0]) as app:
        def late(url):
            redirect = app.user_sign_in(url)
            now[0] += 31
            return redirect
        with pytest.raises(SignInExpiredError):
            sign_in(str(token_path(home)), app.client_secret, late, urls=app.urls, clock=lambda: now[0])
        assert ("token", "code expired") in app.state.refused


def test_demo_source_app_needs_no_account_and_no_input(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    code = main(["--demo", "--source", "app", "-j"], Environment(env={"HOME": str(tmp_path)}, stdout=out,
                                                                  stderr=err, stdin=io.StringIO("")))
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["source"] == "app"


def test_secrets_never_leak(app, home):
    """The client secret, tokens and code appear in no output, log (-vv), argv or file but the token file."""
    seen = {}
    real_user_sign_in = app.user_sign_in

    def person(url):
        redirect = real_user_sign_in(url)
        seen["code"] = redirect.split("code=", 1)[1].split("&")[0]
        return redirect

    app.user_sign_in = person
    code, out1, err1 = paste_sign_in(app, home, "-vv")
    assert code == 0, err1
    files = TokenFile(str(token_path(home)))
    first, _ = files.load()
    tokens = dict(first.__dict__)
    files.save(first.__class__(**{**tokens, "expires_at": 0}), app.client_secret)
    code, out2, err2 = run_cli(app, home, "-vv", "-j")
    assert code == 0, err2
    second, _ = files.load()
    app.revoke_refresh_tokens()
    files.save(second.__class__(**{**second.__dict__, "expires_at": 0}), app.client_secret)
    code, out3, err3 = run_cli(app, home, "-vv")
    assert code == ExitCode.SIGN_IN_EXPIRED
    secrets = [app.client_secret, seen["code"], first.access_token, first.refresh_token, first.id_token,
               second.access_token, second.refresh_token, second.id_token]
    texts = {"stdout": out1 + out2 + out3, "stderr": err1 + err2 + err3}
    for root, _, names in os.walk(home):
        for name in names:
            full = os.path.join(root, name)
            if full != str(token_path(home)):
                with open(full, "rb") as handle:
                    texts[full] = handle.read().decode("utf-8", "replace")
    for where, text in texts.items():
        for secret in secrets:
            assert secret and secret not in text, f"a secret leaked into {where}"
    assert "INFO xfinity_usage.sources.app" in err2 and "Traceback" in err3   # -vv really logged


def while_a_person_signs_in(driver, app, capture):
    """Run ``capture()`` while a person (a thread) types the demo account into the window the tool opened."""
    from selenium.webdriver.support.ui import WebDriverWait

    def person():
        WebDriverWait(driver, 20).until(lambda d: d.find_elements("id", "user"))
        driver.find_element("id", "user").send_keys(app.username)
        driver.find_element("id", "passwd").send_keys(app.password)
        # A click from the page, as the person's: WebDriver's own click in Firefox waits (5 s) for the
        # navigation it starts, which here ends on a scheme no browser loads and so never finishes.
        driver.execute_script("arguments[0].click()", driver.find_element("id", "sign_in"))

    helper = threading.Thread(target=person)
    helper.start()
    try:
        return capture()
    finally:
        helper.join(30)


@pytest.mark.e2e
def test_sign_in_in_a_real_windowed_chromium_captures_the_code(app, home, xvfb):
    from xfinity_usage.sources.app_browser import capture_redirect
    from xfinity_usage.browsers import open_browser

    path = str(token_path(home))
    with open_browser("chrome", network_log=True) as driver:
        def ask(url):
            return while_a_person_signs_in(driver, app, lambda: capture_redirect(driver, url, Deadline(30)))

        sign_in(path, app.client_secret, ask, urls=app.urls)
    assert app.state.grants == ["authorization_code"]
    assert AppSource(path, urls=app.urls).read(Deadline(10)).used == 353.0


@pytest.mark.e2e
@pytest.mark.parametrize("browser", ["firefox", "firefox-headless"])
def test_sign_in_in_a_real_firefox_captures_the_code_from_bidi_events(app, home, shared_browser, browser, caplog):
    """Firefox shows the redirect nowhere: its WebDriver BiDi network events give it, and no log repeats it.

    What the page does, not the browser's life: in the session's running Firefox (opened with BiDi)."""
    import logging

    from xfinity_usage.sources.app_browser import capture_redirect, quiet_selenium_logs

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="selenium")   # Selenium logs every BiDi message at DEBUG
    path = str(token_path(home))
    seen = {}
    with quiet_selenium_logs(), shared_browser.open(browser, network_log=True) as driver:
        assert isinstance(driver.capabilities.get("webSocketUrl"), str)

        def ask(url):
            found = while_a_person_signs_in(
                driver, app, lambda: capture_redirect(driver, url, Deadline(30), name=browser))
            assert not driver.current_url.startswith("xfinitydigitalhome:")   # the address bar never shows it
            seen["code"] = found.split("code=", 1)[1].split("&")[0]
            return found

        sign_in(path, app.client_secret, ask, urls=app.urls)
    assert app.state.grants == ["authorization_code"]
    assert AppSource(path, urls=app.urls).read(Deadline(10)).used == 353.0
    assert any(record.name.endswith("websocket_connection") for record in caplog.records)  # BiDi was logged
    assert seen["code"].startswith("oi-") and seen["code"] not in caplog.text


def test_sign_in_with_json_keeps_stdout_pure(app, home):
    code, out, err = paste_sign_in(app, home, "-j")
    assert code == 0, err
    assert json.loads(out)["source"] == "app" and "/oauth/authorize?" in err
