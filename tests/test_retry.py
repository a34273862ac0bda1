"""Deadline and backoff (unit tests with a fake clock and sleep)."""
import random

import pytest

from xfinity_usage import SiteUnavailableError
from xfinity_usage.retry import Backoff, Deadline


def test_deadline_caps_and_expires():
    now = [100.0]
    deadline = Deadline(10, clock=lambda: now[0])
    assert deadline.cap(30) == 10
    now[0] = 108
    assert deadline.remaining() == pytest.approx(2)
    deadline.check("working")
    now[0] = 111
    assert deadline.remaining() == 0
    with pytest.raises(SiteUnavailableError, match="gave up after 10 s while reading"):
        deadline.check("reading")


def test_backoff_grows_with_jitter_and_is_capped():
    slept = []
    backoff = Backoff(base=0.5, cap=4, rng=random.Random(1), sleep=slept.append)
    for _ in range(6):
        backoff.wait()
    bounds = [0.5, 1, 2, 4, 4, 4]
    assert all(b / 2 <= s <= b for s, b in zip(slept, bounds))
    assert len(set(slept)) == len(slept)  # jittered


def test_backoff_never_sleeps_past_the_deadline():
    slept = []
    now = [0.0]
    deadline = Deadline(0.3, clock=lambda: now[0])
    Backoff(base=8, cap=8, sleep=slept.append).wait(deadline)
    assert slept == [pytest.approx(0.3)]
