"""Firefox's warm start: the caches a blank profile builds on its first start, kept between runs.

Every run gets a new, empty, private Firefox profile. On an empty profile
Firefox compiles its own scripts and registers its built-in add-ons before
it opens a page: about 7 CPU-seconds here, where a start from a profile that
already holds those caches takes about 4.

So once per Firefox build, :func:`~xfinity_usage.browsers.open_browser`
starts Firefox on a blank profile that only ever shows ``about:blank``, quits
it (Firefox writes its caches on the way out) and keeps the files named in
:data:`KEPT` in ``~/.cache/xfinity-usage/firefox/<build>/``. Each later run's
new profile starts with a copy of them. Nothing in :data:`KEPT` holds browsing
data (cookies, history, storage, passwords and certificates are never kept),
and the blank profile they come from never saw a site.

A template made for another build of Firefox is never used: the directory is
named after the binary's path, size and time, and when a new one is saved the
older ones are removed. Firefox checks the copy itself as well
(``compatibility.ini``) and rebuilds what does not match.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from typing import Iterator

from ..files import ensure_private_dir, xdg_dir
from ..locks import file_lock

logger = logging.getLogger(__name__)

#: What a warm start copies: Firefox's caches of its own code and built-in add-ons, and the
#: build they belong to. None holds browsing data.
KEPT = (
    "startupCache",                 # compiled scripts of Firefox itself (not of web pages)
    "addonStartup.json.lz4",        # the built-in add-ons and where they are
    "extensions.json",              # the same, in full
    "extension-preferences.json",   # their permissions
    "search.json.mozlz4",           # the built-in search engines
    "security_state",               # Firefox's shipped certificate-revocation data
    "xulstore.json",                # window geometry
    "compatibility.ini",            # the build these belong to
)
#: Under the cache directory: one template per Firefox build.
FIREFOX_DIR = "firefox"
#: A partial template older than this (seconds) was left by a killed run, and is removed.
STALE_PARTIAL = 600
#: How long a run waits for another that is making the template (seconds) before it starts cold.
BUILD_WAIT = 60.0


def template_path(binary: str, cache_dir: str | None = None) -> str | None:
    """Where the template for the Firefox at ``binary`` lives (None if ``binary`` cannot be read).

    ``cache_dir`` defaults to this tool's XDG cache directory.
    """
    try:
        real = os.path.realpath(binary)
        st = os.stat(real)
    except OSError:
        return None
    build = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir or xdg_dir("cache"), FIREFOX_DIR, build)


def can_save(template: str) -> bool:
    """Whether a template can be saved at ``template`` (its parent can be made and written)."""
    parent = os.path.dirname(template)
    try:
        ensure_private_dir(parent)
    except OSError:
        return False
    return os.access(parent, os.W_OK | os.X_OK)


@contextlib.contextmanager
def building(template: str, wait: float = BUILD_WAIT) -> Iterator[bool]:
    """Hold the lock on making ``template``; yields whether it is still to be made.

    Runs that start Firefox at once (two cron jobs) make it once: the second waits for the
    first, then finds it made. After ``wait`` seconds it yields False (the run starts cold).
    """
    lock = file_lock(os.path.join(os.path.dirname(template), ".lock"))
    if not lock.acquire(wait):
        logger.debug("another run is still making %s: this one starts cold", template)
        yield False
        return
    try:
        yield not os.path.isdir(template)
    finally:
        lock.release()


def _copy_kept(source_dir: str, target_dir: str) -> None:
    """Copy the files and directories named in :data:`KEPT` that ``source_dir`` has into ``target_dir``."""
    for name in KEPT:
        source = os.path.join(source_dir, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(target_dir, name))
        elif os.path.isfile(source):
            shutil.copy2(source, os.path.join(target_dir, name))


def seed(profile: str, template: str) -> bool:
    """Copy the template's files into the new, empty ``profile``; False if there is no template."""
    if not os.path.isdir(template):
        return False
    try:
        _copy_kept(template, profile)
    except OSError as exc:
        logger.debug("could not copy Firefox's warm-start cache from %s: %s", template, exc)
        return False
    logger.debug("Firefox profile seeded from %s", template)
    return True


def save(blank_profile: str, template: str) -> bool:
    """Keep :data:`KEPT` of ``blank_profile`` (a profile that only ever showed about:blank) as the
    template at ``template``, and remove the templates of other builds. False if nothing was saved.

    The template appears whole or not at all: two runs saving at once leave one of them.
    """
    parent = os.path.dirname(template)
    ensure_private_dir(parent)
    partial = tempfile.mkdtemp(prefix=".partial-", dir=parent)
    try:
        _copy_kept(blank_profile, partial)
        if not os.path.isdir(os.path.join(partial, "startupCache")):
            logger.debug("Firefox wrote no startup cache: no warm-start template saved")
            return False
        try:
            os.rename(partial, template)
        except OSError:  # another run saved it first
            return os.path.isdir(template)
        partial = ""
    finally:
        if partial:
            shutil.rmtree(partial, ignore_errors=True)
    for other in os.listdir(parent):  # other builds' templates, and partial ones a killed run left
        path = os.path.join(parent, other)
        with contextlib.suppress(OSError):
            if (path != template and not other.startswith(".")) or (
                    other.startswith(".partial-") and os.stat(path).st_mtime < time.time() - STALE_PARTIAL):
                shutil.rmtree(path)
    logger.debug("saved Firefox's warm-start cache in %s", template)
    return True
