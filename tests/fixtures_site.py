"""Fixtures: the simulated Xfinity site, started for a test and stopped after it."""
import pytest

from xfinity_usage.simulator import SimulatedSite


@pytest.fixture
def site():
    """A started SimulatedSite in scenario "normal"."""
    with SimulatedSite(scenario="normal") as running:
        yield running


@pytest.fixture
def make_site():
    """Factory: ``make_site(scenario=..., faults=..., ...)`` returns a started site; all stop at teardown."""
    started = []

    def make(**kwargs):
        new = SimulatedSite(**kwargs).start()
        started.append(new)
        return new

    yield make
    for running in started:
        running.stop()
