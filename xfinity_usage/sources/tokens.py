"""The app token file: the signed-in app session, kept between runs.

``$XDG_CONFIG_HOME/xfinity-usage/app-token.json`` by default, mode 0600 in a
0700 directory, replaced atomically. It holds the tokens and the client
secret the sign-in used::

    {"version": 1, "saved": <epoch>, "client_secret": "...", "access_token": "...",
     "refresh_token": "...", "id_token": "...", "expires_at": <epoch>, "activity_id": "..."}

Runs that happen at once take the account's lock, the sibling
``app-token.json.lock`` (:mod:`xfinity_usage.locks`), around a refresh, so a
rotated refresh token is never lost.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from typing import Callable, Iterator, Mapping

from ..errors import ConfigError, SiteUnavailableError
from ..files import write_private, xdg_dir
from ..locks import file_lock
from .oauth import Tokens
from ..retry import Deadline

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


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


__all__ = ["TokenFile", "default_token_file"]
