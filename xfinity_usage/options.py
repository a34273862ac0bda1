"""What the command line and its environment variables accept: value types and secrets.

One place for the checks every option of the same kind shares (seconds,
counts, ports, percentages) and for reading a secret from ``NAME`` or the
file named by ``NAME_FILE``. Used by :mod:`xfinity_usage.cli.main` and the
modules that add options of their own (MQTT, Prometheus, the loop, the app).
"""
from __future__ import annotations

import argparse
from typing import Mapping

from .errors import ConfigError


#: The browsers ``-b`` takes (:mod:`xfinity_usage.browsers` starts them), and the default one.
BROWSERS = ("phantomjs", "firefox", "firefox-headless", "chrome", "chrome-headless")
DEFAULT_BROWSER = "firefox-headless"

#: The shortest ``--interval`` that is polite to the real site (shorter ones are for the demo).
MIN_INTERVAL = 60.0


def _number(text: str, kind: type, what: str) -> float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def positive(text: str) -> float:
    """A finite number above 0 (seconds)."""
    value = _number(text, float, "a number")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more."""
    value = int(_number(text, int, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = int(_number(text, int, "a port (1-65535)"))
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"not a port (1-65535): {text!r}")
    return value


def percent(text: str) -> float:
    """A percentage, 0-1000."""
    value = _number(text, float, "a number")
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"percent out of range: {text!r}")
    return value


def secret_from_env(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, else the content of the file ``env[name + "_FILE"]`` names (its trailing
    newline dropped), else ``""``. An unreadable file is a :class:`ConfigError` naming it."""
    value = env.get(name, "")
    path = env.get(name + "_FILE")
    if not value and path:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_FILE {path}: {exc.strerror}") from None
    return value
