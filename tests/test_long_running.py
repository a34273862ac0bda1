"""Long-running proof (issue 20): the ``--interval`` loop on the app route over more than 50
access-token refreshes, and on the browser route across session expiries. Every run reads, every
sink gets every reading in order, and no lock waits on itself (a run that did would end with
"held ... until the time ran out" on stderr instead of a reading)."""
from __future__ import annotations

import io
import json
import re

import pytest

from xfinity_usage.cli.environment import Environment
from xfinity_usage.cli.loop import run_loop
from xfinity_usage.cli.main import build_parser
from xfinity_usage.simulator import DEMO_PASSWORD, DEMO_USERNAME
from xfinity_usage.simulator.app import SimulatedApp
from xfinity_usage.sources.app import sign_in

from .fixtures_browsers import share_warm_start

#: Runs of the app-route loop: each refreshes the access token, which lives 3 s.
APP_RUNS = 52
GB = 2 ** 30


def used_bytes(textfile) -> float:
    """``xfinity_usage_used_bytes`` in the Prometheus textfile."""
    match = re.search(r"^xfinity_usage_used_bytes (\S+)$", textfile.read_text(), re.M)
    assert match, textfile.read_text()
    return float(match.group(1))


def home(tmp_path) -> dict:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": share_warm_start(tmp_path / "cache")}


def test_app_route_loop_over_fifty_token_refreshes(mid_cycle, tmp_path, receiver):
    with SimulatedApp(access_lifetime=3, used=500.0) as app:
        urls = tmp_path / "urls.json"
        urls.write_text(json.dumps(app.urls))
        sign_in(str(tmp_path / "config" / "xfinity-usage" / "app-token.json"), app.client_secret,
                app.user_sign_in, urls=app.urls)
        textfile = tmp_path / "x.prom"
        args = build_parser().parse_args([
            "--site-urls", str(urls), "--interval", "60", "--timeout", "10",
            "--history-db", str(tmp_path / "history.sqlite3"),
            "--webhook", receiver.url(), "--prometheus-textfile", str(textfile)])
        in_textfile = []

        def wait(seconds: float) -> bool:  # between runs: what the textfile says, then more usage
            in_textfile.append(used_bytes(textfile) / GB)
            app.used += 1.0
            return False

        out, err = io.StringIO(), io.StringIO()
        code = run_loop(args, Environment(home(tmp_path), out, err), max_runs=APP_RUNS, wait=wait)
        in_textfile.append(used_bytes(textfile) / GB)
        grants = list(app.state.grants)

    lines = out.getvalue().splitlines()
    assert code == 0 and err.getvalue() == ""
    expected = [500.0 + run for run in range(APP_RUNS)]
    assert [float(re.search(r" used ([0-9.]+) GB of 1230 GB", line).group(1)) for line in lines] == expected, lines
    assert all(" source app: " in line for line in lines)
    assert grants == ["authorization_code"] + ["refresh_token"] * APP_RUNS  # a refresh in every run
    assert [body["used"] for body in receiver.json_bodies()] == expected  # the webhook got every reading
    assert in_textfile == expected  # and so did the Prometheus textfile, each before the next run
    assert (tmp_path / "config" / "xfinity-usage" / "app-token.json.lock").read_text() == ""


@pytest.mark.e2e
def test_browser_route_loop_across_session_expiries(site, tmp_path, receiver):
    env = {**home(tmp_path), "XFINITY_USER": DEMO_USERNAME, "XFINITY_PASSWORD": DEMO_PASSWORD}
    urls = tmp_path / "urls.json"
    urls.write_text(json.dumps(site.urls))
    textfile = tmp_path / "x.prom"
    args = build_parser().parse_args([
        "--site-urls", str(urls), "-b", "phantomjs", "--interval", "60", "--timeout", "60",
        "--no-history", "--webhook", receiver.url(), "--prometheus-textfile", str(textfile)])
    waits = []

    def wait(seconds: float) -> bool:  # the site forgets every session after every second run
        waits.append(used_bytes(textfile) / GB)
        if len(waits) % 2 == 0:
            site.expire_sessions()
        return False

    out, err = io.StringIO(), io.StringIO()
    code = run_loop(args, Environment(env, out, err), max_runs=5, wait=wait)
    lines = out.getvalue().splitlines()
    assert code == 0 and err.getvalue() == "", err.getvalue()
    sources = [re.search(r" source (\w+): ", line).group(1) for line in lines]
    assert sources == ["browser", "session", "browser", "session", "browser"], lines
    assert site.password_submissions == 3  # a sign-in after each expiry, none in between
    assert [body["used"] for body in receiver.json_bodies()] == [424.0] * 5
    assert waits == [424.0] * 4 and used_bytes(textfile) / GB == 424.0
