"""Keep the password out of reprs, logs, files and child processes; mask it in saved text."""
from __future__ import annotations

from typing import Iterable, Mapping

#: Every environment variable the tool reads a secret from, and its ``_FILE`` form.
#: None of them reaches a child process (driver, browser, ``chromium --version``).
SECRET_ENV_VARS = (
    "XFINITY_PASSWORD", "XFINITY_PASSWORD_FILE",
    "XFINITY_CLIENT_SECRET", "XFINITY_CLIENT_SECRET_FILE",
    "XFINITY_REFRESH_TOKEN", "XFINITY_REFRESH_TOKEN_FILE",
    "MQTT_PASSWORD", "MQTT_PASSWORD_FILE",
)


class Secret:
    """A string that never shows itself: ``repr()`` and ``str()`` print stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it (the password field)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        raise TypeError("a Secret is never pickled or copied to disk")


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with stars."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def child_environment(base: Mapping[str, str], **overrides: str) -> dict:
    """A copy of ``base`` for a child process: without :data:`SECRET_ENV_VARS`, with ``overrides``.

    ``base`` (typically :data:`os.environ`) is only read. An override can't put a
    secret variable back.
    """
    env = {key: value for key, value in base.items() if key not in SECRET_ENV_VARS}
    env.update((key, value) for key, value in overrides.items() if key not in SECRET_ENV_VARS)
    return env
