"""The run's deadline, backoff with jitter between retries, and the one retry loop (:func:`retrying`)."""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, Optional, TypeVar

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

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` with this backoff's sleep (a wait the service asked for)."""
        logger.debug("waiting %.2f s as asked", seconds)
        self._sleep(seconds)


T = TypeVar("T")


def retrying(call: Callable[[], T], deadline: Deadline, what: str, retries: int,
             new_backoff: Callable[[], Backoff] = Backoff, *,
             retry_on: Callable[[Exception], bool] = lambda exc: getattr(exc, "transient", False),
             wait_for: Callable[[Exception], Optional[float]] = lambda exc: None,
             out_of_time: Optional[str] = None) -> T:
    """``call()``, tried again after a backoff while it raises an exception ``retry_on`` accepts
    (by default a transient :class:`~xfinity_usage.errors.XfinityUsageError`), at most ``retries``
    more times and never past ``deadline``; then the last exception propagates.

    ``wait_for(exc)`` may name the wait the service asked for (``Retry-After``): it replaces the
    backoff when it fits in the time left; one that does not fit ends the retries.
    ``out_of_time`` names the step, when running out of time should raise the deadline's own
    error (``gave up after N s while <out_of_time>``) rather than the last failure.
    """
    backoff = new_backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except Exception as exc:
            if not retry_on(exc) or attempt > retries:
                raise
            if deadline.remaining() <= 0:
                if out_of_time is not None:
                    deadline.check(out_of_time)
                raise
            asked = wait_for(exc)
            if asked is not None and asked > deadline.remaining():
                raise
            logger.info("%s failed (%s); retrying (%d of %d)", what, exc, attempt, retries)
            if asked is None:
                backoff.wait(deadline)
            else:
                logger.info("waiting %g s as the service asked (Retry-After)", asked)
                backoff.sleep(asked)
            if out_of_time is not None:
                deadline.check(out_of_time)
