"""The deployment most users run: a daemon on the app route (``--interval``), across token refreshes.

The loop holds the account's lock (``app-token.json.lock``) and the token refresh takes the same
lock: it must take it again at once, not wait on itself until the run's deadline (issue 20).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from xfinity_usage.sources.app import sign_in
from xfinity_usage.cli.main import build_parser
from xfinity_usage.cli.environment import Environment
from xfinity_usage.errors import ExitCode
from xfinity_usage.cli.loop import run_loop
from xfinity_usage.simulator.app import SimulatedApp


@pytest.fixture
def short_lived_app():
    """Access tokens live 20 s: inside the client's 5-minute margin, so every run refreshes."""
    with SimulatedApp(access_lifetime=20) as running:
        yield running


@pytest.fixture
def signed_in(short_lived_app, tmp_path):
    """``(env, urls)``: a private home whose app sign-in is saved in the default token file."""
    app = short_lived_app
    urls = tmp_path / "urls.json"
    urls.write_text(json.dumps(app.urls))
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    sign_in(str(tmp_path / "config" / "xfinity-usage" / "app-token.json"), app.client_secret, app.user_sign_in,
            urls=app.urls)
    return env, urls


def test_app_route_daemon_keeps_reading_across_token_refreshes(short_lived_app, signed_in, tmp_path):
    app = short_lived_app
    env, urls = signed_in
    args = build_parser().parse_args(["--site-urls", str(urls), "--interval", "60", "--timeout", "10",
                                      "--history-db", str(tmp_path / "history.sqlite3")])
    out, err = io.StringIO(), io.StringIO()
    code = run_loop(args, Environment(env, out, err), max_runs=3, wait=lambda seconds: False)
    lines = out.getvalue().splitlines()
    assert code == 0 and err.getvalue() == ""
    # a run that waited on the loop's own lock would end "failed: ... held ... until the time ran out"
    assert len(lines) == 3 and all(" source app: used " in line for line in lines), lines
    assert app.state.grants == ["authorization_code"] + ["refresh_token"] * 3  # a refresh in every run
    # the lock is free again for the next process, and its file names no holder
    assert (tmp_path / "config" / "xfinity-usage" / "app-token.json.lock").read_text() == ""


def test_a_second_daemon_for_the_same_account_is_refused_while_the_first_refreshes(signed_in, tmp_path):
    env, urls = signed_in
    args = build_parser().parse_args(["--site-urls", str(urls), "--interval", "60", "--timeout", "10",
                                      "--no-history"])
    second = []

    def wait(seconds):  # between the first daemon's runs: start a second one for the same account
        done = subprocess.run([sys.executable, "-m", "xfinity_usage", "--site-urls", str(urls),
                               "--interval", "60", "--no-history"],
                              env={**env, "PATH": os.environ.get("PATH", "")}, capture_output=True, text=True,
                              timeout=60)
        second.append(done)
        return False

    out, err = io.StringIO(), io.StringIO()
    assert run_loop(args, Environment(env, out, err), max_runs=2, wait=wait) == 0
    assert len(out.getvalue().splitlines()) == 2, err.getvalue()
    refused = second[0]
    assert refused.returncode == ExitCode.LOCKED == 14
    assert refused.stderr.startswith("xfinity-usage: locked: another xfinity-usage --interval process (pid ")
    assert refused.stderr.count("\n") == 1
