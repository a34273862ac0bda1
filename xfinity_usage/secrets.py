"""Keep the password out of reprs, logs and files; mask it in saved text."""
from __future__ import annotations

from typing import Iterable


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
