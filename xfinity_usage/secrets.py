"""Keep the password out of reprs, logs, files and child processes; mask it in saved text."""
from __future__ import annotations

import re
from typing import Iterable, Mapping

#: Every environment variable the tool reads a secret from, and its ``_FILE`` form.
#: None of them reaches a child process (driver, browser, ``chromium --version``).
SECRET_ENV_VARS = (
    "XFINITY_PASSWORD", "XFINITY_PASSWORD_FILE",
    "XFINITY_CLIENT_SECRET", "XFINITY_CLIENT_SECRET_FILE",
    "XFINITY_REFRESH_TOKEN", "XFINITY_REFRESH_TOKEN_FILE",
    "MQTT_PASSWORD", "MQTT_PASSWORD_FILE",
    "WEBHOOK_TOKEN", "WEBHOOK_TOKEN_FILE",
    "XFINITY_NOTIFY_URLS", "XFINITY_NOTIFY_URLS_FILE",
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


#: Secrets at least this long are starred wherever they appear; shorter ones only
#: where they stand as a value of their own, so that a password ``x`` leaves
#: ``xfinity_usage`` readable.
WHOLE_WORD_BELOW = 8


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with stars (see :data:`WHOLE_WORD_BELOW`)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if len(secret) >= WHOLE_WORD_BELOW:
            text = text.replace(secret, "********")
        else:
            text = re.sub(r"(?<![\w.])" + re.escape(secret) + r"(?![\w])", "********", text)
    return text


def child_environment(base: Mapping[str, str], **overrides: str) -> dict:
    """A copy of ``base`` for a child process: without :data:`SECRET_ENV_VARS`, with ``overrides``.

    ``base`` (typically :data:`os.environ`) is only read. An override can't put a
    secret variable back.
    """
    env = {key: value for key, value in base.items() if key not in SECRET_ENV_VARS}
    env.update((key, value) for key, value in overrides.items() if key not in SECRET_ENV_VARS)
    return env
