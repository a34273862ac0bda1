"""The run's deadline, and backoff with jitter between retries."""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, Optional

from .errors import SiteUnavailableError

logger = logging.getLogger(__name__)


class Deadline:
    """The time left for the whole run."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.expires = clock() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        return max(0.0, self.expires - self._clock())

    def cap(self, seconds: float) -> float:
        """``seconds``, shortened so it ends no later than the deadline."""
        return min(seconds, self.remaining())

    def check(self, what: str) -> None:
        """Raise SiteUnavailableError if the deadline has passed."""
        if self.remaining() <= 0:
            raise SiteUnavailableError(
                f"gave up after {self.seconds:g} s while {what}; the site is slow or failing, "
                "try again later or raise --timeout")


class Backoff:
    """Delays of ``base * 2**n`` seconds (capped), each with full jitter."""

    def __init__(self, base: float = 0.5, cap: float = 8.0, rng: Optional[random.Random] = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.base, self.cap, self.attempt = base, cap, 0
        self._rng = rng or random.Random()
        self._sleep = sleep

    def wait(self, deadline: Optional[Deadline] = None) -> None:
        delay = min(self.cap, self.base * (2 ** self.attempt))
        delay = self._rng.uniform(delay / 2, delay)
        self.attempt += 1
        if deadline is not None:
            delay = deadline.cap(delay)
        logger.debug("backing off %.2f s", delay)
        self._sleep(delay)
