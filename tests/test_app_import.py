"""Tokens from where users already have them (issue 21): ``--app-import`` of the Xfinity Android
app's ``ACCESS_TOKEN_STORE.xml``, and ``XFINITY_REFRESH_TOKEN(_FILE)`` from other tools, against
SimulatedApp; the refresh token and client secret are never shown."""
from __future__ import annotations

import json
import os
import stat
from xml.sax.saxutils import escape

import pytest

from xfinity_usage.errors import ConfigError, ExitCode
from xfinity_usage.sources.app import sign_in
from xfinity_usage.sources.tokens import TokenFile, read_android_store

from .test_e2e_app import app, home  # noqa: F401 - the same fixtures: a SimulatedApp, a private home
from .test_e2e_app import run_cli, signed_in, token_path


def refresh_token_of(app, tmp_path) -> str:
    """A refresh token the simulated app issued (signed in elsewhere, as the phone did)."""
    elsewhere = str(tmp_path / "elsewhere.json")
    sign_in(elsewhere, app.client_secret, app.user_sign_in, urls=app.urls)
    tokens, _ = TokenFile(elsewhere).load()
    os.remove(elsewhere)
    return tokens.refresh_token


def android_store(path, state) -> str:
    """``ACCESS_TOKEN_STORE.xml`` as Android writes shared preferences: the state's JSON, XML-escaped,
    in ``<string name="ACCESS_TOKEN_STORE_KEY">`` (csobrinho/xfinity-usage's README reads it there)."""
    text = json.dumps(state) if not isinstance(state, str) else state
    path.write_text("<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n"
                    '    <boolean name="migrated" value="true" />\n'
                    f'    <string name="ACCESS_TOKEN_STORE_KEY">{escape(text, {chr(34): "&quot;"})}</string>\n'
                    "</map>\n")
    return str(path)


def app_state(refresh: str, secret: str) -> dict:
    """AppAuth's AuthState as the app saves it: the refresh token, and the last token request with
    the client secret among its additional parameters."""
    return {"refreshToken": refresh, "scope": "openid profile",
            "mLastTokenResponse": {"request": {"clientId": "xfinity-android-application",
                                               "grantType": "authorization_code",
                                               "additionalParameters": {"client_secret": secret}},
                                   "token_type": "Bearer", "expires_at": 1, "refresh_token": refresh}}


def test_app_import_reads_the_usage_and_saves_a_private_token_file(app, home):
    refresh = refresh_token_of(app, home)
    store = android_store(home / "ACCESS_TOKEN_STORE.xml", app_state(refresh, app.client_secret))
    grants = len(app.state.grants)
    code, out, err = run_cli(app, home, "--app-import", store, "-v", secret=False)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err
    assert "imported the Xfinity app's sign-in" in err
    assert app.state.grants[grants:] == ["refresh_token"]  # no sign-in: the imported token refreshed
    saved = token_path(home)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    tokens, secret = TokenFile(str(saved)).load()
    assert tokens.refresh_token == refresh and secret == app.client_secret and tokens.access_token
    for shown in (out, err):
        assert refresh not in shown and app.client_secret not in shown
    # the next run reads from the token file, with no import and no secret in the environment
    code, out, err = run_cli(app, home, secret=False)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err


def test_a_store_without_the_secret_takes_it_from_the_environment(app, home):
    refresh = refresh_token_of(app, home)
    store = android_store(home / "store.xml", {"refreshToken": refresh})
    code, out, err = run_cli(app, home, "--app-import", store, secret=False)
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert "has no client secret (mLastTokenResponse.request.additionalParameters.client_secret)" in err
    assert refresh not in err and not token_path(home).exists()
    code, out, err = run_cli(app, home, "--app-import", store)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err


@pytest.mark.parametrize("content, words", [
    ("not xml at all", "is not XML"),
    ("<map><string name='OTHER'>{}</string></map>", 'has no <string name="ACCESS_TOKEN_STORE_KEY">'),
    ("<map><string name='ACCESS_TOKEN_STORE_KEY'>{not json</string></map>", "does not hold JSON"),
    ("<map><string name='ACCESS_TOKEN_STORE_KEY'>{\"scope\": \"openid\"}</string></map>", "has no refreshToken"),
])
def test_a_file_of_another_shape_names_what_is_missing(tmp_path, content, words):
    path = tmp_path / "store.xml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
        read_android_store(str(path))


def test_a_missing_file_is_one_line(app, home):
    code, out, err = run_cli(app, home, "--app-import", str(home / "nothing.xml"))
    assert code == ExitCode.USAGE and err == f"xfinity-usage: configuration: cannot read --app-import " \
                                             f"{home / 'nothing.xml'}: No such file or directory\n"


def test_the_store_values_are_read_as_the_readme_shows(tmp_path):
    store = android_store(tmp_path / "s.xml", app_state("rt-<&\">-1", "cs-2"))
    assert read_android_store(store) == ("rt-<&\">-1", "cs-2")


@pytest.mark.parametrize("from_file", [False, True])
def test_a_refresh_token_from_the_environment_becomes_the_sign_in(app, home, from_file):
    refresh = refresh_token_of(app, home)
    if from_file:
        (home / "rt").write_text(refresh + "\n")
        extra = {"XFINITY_REFRESH_TOKEN_FILE": str(home / "rt")}
    else:
        extra = {"XFINITY_REFRESH_TOKEN": refresh}
    code, out, err = run_cli(app, home, "-v", env=extra)
    assert (code, out) == (0, "Used 353 of 1230 GB this month.\n"), err
    assert refresh not in err and app.client_secret not in err
    assert TokenFile(str(token_path(home))).load()[0].refresh_token == refresh


def test_a_saved_sign_in_wins_over_the_environment(app, home):
    signed_in(app, home)
    saved = TokenFile(str(token_path(home))).load()[0].refresh_token
    code, out, err = run_cli(app, home, "-v", env={"XFINITY_REFRESH_TOKEN": "from-another-tool"})
    assert code == 0, err
    assert "XFINITY_REFRESH_TOKEN is not used: an app sign-in is saved in" in err
    assert TokenFile(str(token_path(home))).load()[0].refresh_token == saved


def test_a_refresh_token_without_a_client_secret_is_one_line(app, home):
    code, out, err = run_cli(app, home, secret=False, env={"XFINITY_REFRESH_TOKEN": "rt-without-secret"})
    assert code == ExitCode.USAGE
    assert err == ("xfinity-usage: configuration: XFINITY_REFRESH_TOKEN needs the app's client secret it was "
                   "issued to: set XFINITY_CLIENT_SECRET or XFINITY_CLIENT_SECRET_FILE\n")
