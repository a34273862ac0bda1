"""Firefox's warm start: the template's place, what is kept, seeding, and one real Firefox that makes it."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest

from xfinity_usage.browsers import warmstart
from xfinity_usage.browsers import find_browser, open_browser

from .proctools import assert_no_new_browser_processes


def blank_profile(path):
    """A profile as Firefox leaves it: caches, and the files of browsing data that must never be kept."""
    (path / "startupCache").mkdir(parents=True)
    (path / "startupCache" / "scriptCache.bin").write_bytes(b"compiled")
    for name in ("addonStartup.json.lz4", "extensions.json", "compatibility.ini", "xulstore.json"):
        (path / name).write_text(name)
    for name in ("cookies.sqlite", "places.sqlite", "logins.json", "key4.db", "cert9.db", "prefs.js",
                 "sessionstore.jsonlz4"):
        (path / name).write_text("browsing data")
    (path / "storage" / "default").mkdir(parents=True)
    return path


def test_template_is_named_after_the_binary_and_changes_with_it(tmp_path):
    binary = tmp_path / "firefox"
    binary.write_text("one build")
    first = warmstart.template_path(str(binary), str(tmp_path / "cache"))
    assert os.path.dirname(first) == str(tmp_path / "cache" / "firefox")
    assert warmstart.template_path(str(binary), str(tmp_path / "cache")) == first
    binary.write_text("another build, longer")
    assert warmstart.template_path(str(binary), str(tmp_path / "cache")) != first
    assert warmstart.template_path(str(tmp_path / "missing"), str(tmp_path / "cache")) is None


def test_template_follows_a_symlinked_binary(tmp_path):
    real = tmp_path / "lib" / "firefox-esr"
    real.parent.mkdir()
    real.write_text("build")
    link = tmp_path / "firefox"
    link.symlink_to(real)
    assert warmstart.template_path(str(link), "/c") == warmstart.template_path(str(real), "/c")


def test_template_defaults_to_the_xdg_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    binary = tmp_path / "firefox"
    binary.write_text("build")
    assert warmstart.template_path(str(binary)).startswith(str(tmp_path / "xdg" / "xfinity-usage" / "firefox") + "/")


def test_save_keeps_only_the_caches_and_seed_copies_them(tmp_path):
    template = str(tmp_path / "cache" / "firefox" / "build1")
    assert warmstart.save(str(blank_profile(tmp_path / "blank")), template)
    assert sorted(os.listdir(template)) == ["addonStartup.json.lz4", "compatibility.ini", "extensions.json",
                                           "startupCache", "xulstore.json"]
    assert oct(os.stat(os.path.dirname(template)).st_mode & 0o777) == "0o700"
    profile = tmp_path / "run" / "profile"
    profile.mkdir(parents=True)
    assert warmstart.seed(str(profile), template)
    assert sorted(os.listdir(profile)) == sorted(os.listdir(template))
    assert (profile / "startupCache" / "scriptCache.bin").read_bytes() == b"compiled"


def test_seed_without_a_template_does_nothing(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    assert not warmstart.seed(str(profile), str(tmp_path / "none"))
    assert os.listdir(profile) == []


def test_no_template_from_a_profile_without_a_startup_cache(tmp_path):
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "extensions.json").write_text("{}")
    template = tmp_path / "cache" / "firefox" / "build1"
    assert not warmstart.save(str(blank), str(template))
    assert os.listdir(template.parent) == []


def test_a_new_template_removes_other_builds_and_stale_partials_but_not_fresh_ones(tmp_path):
    parent = tmp_path / "cache" / "firefox"
    for name in ("old-build", ".partial-stale", ".partial-fresh"):
        (parent / name).mkdir(parents=True)
    # Both ages are set from the clock the code reads (time.time()), not left to the file system's,
    # which a faked clock (faketime, time-machine) does not move.
    now = time.time()
    stale = now - warmstart.STALE_PARTIAL - 60
    os.utime(parent / ".partial-stale", (stale, stale))
    os.utime(parent / ".partial-fresh", (now, now))
    assert warmstart.save(str(blank_profile(tmp_path / "blank")), str(parent / "new-build"))
    assert sorted(os.listdir(parent)) == [".partial-fresh", "new-build"]


def test_a_template_saved_meanwhile_by_another_run_is_kept(tmp_path):
    template = tmp_path / "cache" / "firefox" / "build1"
    (template / "startupCache").mkdir(parents=True)
    (template / "startupCache" / "theirs").write_text("the other run's")
    assert warmstart.save(str(blank_profile(tmp_path / "blank")), str(template))
    assert os.listdir(template / "startupCache") == ["theirs"]
    assert [n for n in os.listdir(template.parent) if n.startswith(".partial-")] == []


def test_a_template_is_made_by_one_run_at_a_time(tmp_path):
    template = tmp_path / "cache" / "firefox" / "build1"
    assert warmstart.can_save(str(template))
    with warmstart.building(str(template)) as needed:
        assert needed
        other = ("import sys; from xfinity_usage.browsers import warmstart\n"
                 "with warmstart.building(sys.argv[1], wait=0.2) as meanwhile: print(meanwhile)")
        done = subprocess.run([sys.executable, "-c", other, str(template)], capture_output=True, text=True)
        assert done.stdout == "False\n", done.stderr  # another run: the lock is held
        assert warmstart.save(str(blank_profile(tmp_path / "blank")), str(template))
    with warmstart.building(str(template), wait=0) as needed:  # the next run: made already
        assert needed is False
    assert sorted(os.listdir(template.parent)) == [".lock", "build1"]


def test_cannot_save_where_a_file_is_in_the_way(tmp_path):
    (tmp_path / "cache").write_text("not a directory")
    assert not warmstart.can_save(str(tmp_path / "cache" / "firefox" / "build1"))
    assert warmstart.can_save(str(tmp_path / "ok" / "firefox" / "build1"))


@pytest.mark.e2e
def test_a_real_firefox_start_is_seeded_from_a_template_of_kept_caches(isolated, xdg_cache, caplog):
    """In the run's cache (tests/fixtures_browsers.py's xdg_cache, empty at the start of a run), this
    start or an earlier one made the template from a blank Firefox: Firefox's caches, nothing else,
    and this run's profile started with them. (The order of the blank start, the copy and the run's
    start, and warm_start=False: tests/test_browser_options.py.)"""
    cwd, tmp = isolated
    caplog.set_level(logging.DEBUG, logger="xfinity_usage")
    with assert_no_new_browser_processes():
        with open_browser("firefox-headless") as driver:
            profile = driver.capabilities["moz:profile"]
            driver.get("about:blank")
    template = warmstart.template_path(find_browser("firefox-headless"))
    assert template.startswith(str(xdg_cache) + "/")
    kept = set(os.listdir(template))
    assert {"startupCache", "compatibility.ini", "extensions.json"} <= kept <= set(warmstart.KEPT)
    assert os.listdir(os.path.join(template, "startupCache"))
    seeded = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Firefox profile seeded")]
    assert seeded == [f"Firefox profile seeded from {template}"]
    assert profile.startswith(str(tmp)) and not os.path.exists(profile)
    assert os.listdir(tmp) == []
