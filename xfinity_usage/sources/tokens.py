"""The app token file: the signed-in app session, kept between runs.

``$XDG_CONFIG_HOME/xfinity-usage/app-token.json`` by default, mode 0600 in a
0700 directory, replaced atomically. It holds the tokens and the client
secret the sign-in used::

    {"version": 1, "saved": <epoch>, "client_secret": "...", "access_token": "...",
     "refresh_token": "...", "id_token": "...", "expires_at": <epoch>, "activity_id": "..."}

Runs that happen at once take the account's lock, the sibling
``app-token.json.lock`` (:mod:`xfinity_usage.locks`), around a refresh, so a
rotated refresh token is never lost.

A sign-in made elsewhere comes in through :meth:`TokenFile.seed` (a refresh
token and the client secret; the first read refreshes): from the Xfinity
Android app's own store (:func:`read_android_store`) or from another tool.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Any, Callable, Iterator, Mapping

from ..errors import ConfigError, SiteUnavailableError
from ..files import write_private, xdg_dir
from ..locks import file_lock
from .oauth import Tokens
from ..retry import Deadline

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: The string of the Android app's ``shared_prefs/ACCESS_TOKEN_STORE.xml`` that holds its sign-in,
#: AppAuth's state as JSON (csobrinho/xfinity-usage's README reads it with xmllint and jq).
ANDROID_STORE_KEY = "ACCESS_TOKEN_STORE_KEY"
#: Where that JSON keeps the client secret the refresh token was issued to (the same README).
ANDROID_SECRET_PATH = ("mLastTokenResponse", "request", "additionalParameters", "client_secret")


def default_token_file(env: Mapping[str, str] | None = None) -> str:
    """``$XDG_CONFIG_HOME/xfinity-usage/app-token.json`` (``~/.config/...`` by default)."""
    return os.path.join(xdg_dir("config", env), "app-token.json")


class TokenFile:
    """Load, save and lock the token file at ``path``."""

    def __init__(self, path: str, sleep: Callable[[float], None] = time.sleep):
        self.path = path
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"TokenFile({self.path!r})"

    @property
    def lock_path(self) -> str:
        return self.path + ".lock"

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def load(self) -> tuple[Tokens, str]:
        """The saved tokens and client secret; ConfigError when there are none or the file is unusable."""
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read().decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no app sign-in saved in {self.path}: run xfinity-usage --app-sign-in") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the app token file {self.path} ({exc.__class__.__name__}): "
                              "run xfinity-usage --app-sign-in again") from None
        fields = ("access_token", "refresh_token", "id_token")
        if (not isinstance(data, dict) or data.get("version") != FORMAT_VERSION
                or not all(isinstance(data.get(key), str) for key in fields)
                or not isinstance(data.get("expires_at"), (int, float))):
            raise ConfigError(f"{self.path} is not an app token file of this tool: run xfinity-usage "
                              "--app-sign-in again")
        tokens = Tokens(access_token=data["access_token"], refresh_token=data["refresh_token"],
                        id_token=data["id_token"], expires_at=float(data["expires_at"]),
                        activity_id=str(data.get("activity_id") or ""))
        return tokens, str(data.get("client_secret") or "")

    def seed(self, refresh_token: str, client_secret: str, deadline: Deadline | None = None) -> None:
        """Save a sign-in made elsewhere: a refresh token and its client secret, with no access
        token yet (the first read refreshes it). Under the account's lock, as a refresh is."""
        with self.locked(deadline):
            self.save(Tokens(access_token="", refresh_token=refresh_token, id_token="", expires_at=0.0),
                      client_secret)

    def save(self, tokens: Tokens, client_secret: str) -> None:
        """Replace the file atomically (0600 in a 0700 directory)."""
        data = {"version": FORMAT_VERSION, "saved": int(time.time()), "client_secret": client_secret,
                "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
                "id_token": tokens.id_token, "expires_at": tokens.expires_at, "activity_id": tokens.activity_id}
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
        logger.info("saved the app tokens to %s", self.path)

    @contextlib.contextmanager
    def locked(self, deadline: Deadline | None = None) -> Iterator[None]:
        """Hold the account's lock (waiting at most until ``deadline``).

        It is the process's one lock of this account (:func:`xfinity_usage.locks.file_lock`), so a
        caller that already holds it, such as the ``--interval`` loop, takes it again at once.
        """
        lock = file_lock(self.lock_path)
        got = lock.acquire(None if deadline is None else deadline.remaining(), sleep=self._sleep,
                           on_wait=lambda: logger.info("waiting for another run to finish with %s", self.path))
        if not got:
            raise SiteUnavailableError(
                f"another xfinity-usage run held {self.lock_path} until the time ran out")
        try:
            yield
        finally:
            lock.release()


def read_android_store(path: str) -> tuple[str, str]:
    """``(refresh_token, client_secret)`` from the Xfinity Android app's ``ACCESS_TOKEN_STORE.xml``
    (``client_secret`` is ``""`` when the store has none).

    The file is Android's shared-preferences XML; its string ``ACCESS_TOKEN_STORE_KEY`` holds JSON
    with ``refreshToken`` and ``mLastTokenResponse.request.additionalParameters.client_secret``.
    ConfigError names what is missing, never a value.
    """
    import xml.etree.ElementTree as ElementTree  # only for an import: not on every run's path

    where = f"--app-import {path}"
    try:
        with open(path, "rb") as handle:
            root = ElementTree.fromstring(handle.read())
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc.__class__.__name__}") from None
    except ElementTree.ParseError:
        raise ConfigError(f"{where} is not XML: give the Xfinity app's shared_prefs/ACCESS_TOKEN_STORE.xml") from None
    found = [node for node in root.iter("string") if node.get("name") == ANDROID_STORE_KEY]
    if not found:
        raise ConfigError(f"{where} has no <string name=\"{ANDROID_STORE_KEY}\">: is it the Xfinity app's "
                          "shared_prefs/ACCESS_TOKEN_STORE.xml?")
    try:
        state: Any = json.loads(found[0].text or "")
    except ValueError:
        raise ConfigError(f"{where}: {ANDROID_STORE_KEY} does not hold JSON") from None
    refresh = state.get("refreshToken") if isinstance(state, dict) else None
    if not isinstance(refresh, str) or not refresh:
        raise ConfigError(f"{where}: {ANDROID_STORE_KEY} has no refreshToken (is the app signed in?)")
    node = state
    for key in ANDROID_SECRET_PATH:
        node = node.get(key) if isinstance(node, dict) else None
    return refresh, node if isinstance(node, str) else ""


__all__ = ["ANDROID_STORE_KEY", "TokenFile", "default_token_file", "read_android_store"]
