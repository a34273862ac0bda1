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


# ---------------------------------------------------------------- the one retry loop


class Flaky(Exception):
    transient = True


def calls_failing(times, error=Flaky):
    made = []

    def call():
        made.append(1)
        if len(made) <= times:
            raise error("no")
        return "ok"

    return call, made


def test_retrying_tries_a_transient_failure_retries_times_more():
    from xfinity_usage.retry import retrying

    waits = []
    call, made = calls_failing(2)
    assert retrying(call, Deadline(60), "step", 2, lambda: Backoff(sleep=waits.append)) == "ok"
    assert len(made) == 3 and len(waits) == 2
    call, made = calls_failing(3)
    with pytest.raises(Flaky):
        retrying(call, Deadline(60), "step", 2, lambda: Backoff(sleep=waits.append))
    assert len(made) == 3


def test_retrying_never_retries_what_retry_on_refuses():
    from xfinity_usage.retry import retrying

    call, made = calls_failing(1, ValueError)
    with pytest.raises(ValueError):
        retrying(call, Deadline(60), "step", 5, lambda: Backoff(sleep=lambda s: None))
    assert len(made) == 1


def test_retrying_waits_what_the_service_asks_when_it_fits():
    from xfinity_usage.retry import retrying

    waits = []
    call, made = calls_failing(1)
    retrying(call, Deadline(60), "step", 3, lambda: Backoff(sleep=waits.append), wait_for=lambda exc: 7.0)
    assert waits == [7.0]
    call, made = calls_failing(1)
    with pytest.raises(Flaky):  # 100 s asked, 60 left: no point waiting
        retrying(call, Deadline(60), "step", 3, lambda: Backoff(sleep=waits.append), wait_for=lambda exc: 100.0)
    assert len(made) == 1


def test_retrying_out_of_time_raises_the_deadline_error_when_asked():
    from xfinity_usage.errors import SiteUnavailableError
    from xfinity_usage.retry import retrying

    now = [0.0]
    deadline = Deadline(5, clock=lambda: now[0])

    def call():
        now[0] += 10
        raise Flaky("slow")

    with pytest.raises(Flaky):
        retrying(call, deadline, "step", 3)
    with pytest.raises(SiteUnavailableError, match="gave up after 5 s while reading the page"):
        retrying(call, deadline, "step", 3, out_of_time="reading the page")
