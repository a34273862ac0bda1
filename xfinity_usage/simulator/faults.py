"""Faults the simulated site injects: fixed ones per path, and random ones from a seed."""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

from . import data
from .responses import Response, error, html

#: Every fault kind, in a fixed order (random choices depend on it).
FAULT_KINDS = ("blank", "error500", "error503", "reset", "slow", "truncated", "no_usage_months",
               "access_denied")


@dataclass(frozen=True)
class Fault:
    """The first ``count`` requests whose path (query left out) is ``path`` get fault ``kind``.

    ``host`` limits it to ``"customer"``, ``"login"``, ``"account"`` or ``"api"``, ``method`` to ``"GET"``
    or ``"POST"``; ``None`` matches both.
    """

    path: str
    kind: str
    count: int = 1
    host: str | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.count < 0:
            raise ValueError("fault count must not be negative")
        if self.host not in (None, "customer", "login", "account", "api"):
            raise ValueError(f"fault host must be 'customer', 'login', 'account', 'api' or None, not {self.host!r}")


class FaultPlan:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self, faults: Iterable[Fault] = (), rate: float = 0.0, kinds: Sequence[str] | None = None,
                 seed: int | None = None):
        self._remaining: list[list] = [[f, f.count] for f in faults]
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.rate = rate
        self.kinds: tuple[str, ...] = tuple(kinds) if kinds is not None else FAULT_KINDS
        for kind in self.kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if rate > 0 and not self.kinds:
            raise ValueError("fault_kinds is empty")
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Inject ``fault`` from now on (on a running site too)."""
        with self._lock:
            self._remaining.append([fault, fault.count])

    def pick(self, host: str, path: str, method: str = "GET") -> str | None:
        """The fault kind for this request, or None to answer normally."""
        with self._lock:
            for entry in self._remaining:
                fault, left = entry
                if (left > 0 and fault.path == path and fault.host in (None, host)
                        and fault.method in (None, method)):
                    entry[1] -= 1
                    return fault.kind
            if self.rate > 0 and self._random.random() < self.rate:
                return self._random.choice(self.kinds)
        return None


def replacement(kind: str) -> Response | None:
    """The response that replaces the real one for ``kind``, or None when the kind rewrites it instead."""
    if kind == "blank":
        return html("")
    if kind == "error500":
        return error(500)
    if kind == "error503":
        return error(503)
    return None


def rewrite(kind: str, response: Response) -> Response:
    """Apply ``truncated`` or ``no_usage_months`` to a real response (others pass through)."""
    if kind == "truncated":
        response.body = response.body[: len(response.body) // 2]
        return response
    if kind == "no_usage_months" and response.is_json and isinstance(response.data, dict) \
            and "usageMonths" in response.data:
        response.data = data.without_usage_months(response.data)
        response.body = json.dumps(response.data).encode("utf-8")
    return response
