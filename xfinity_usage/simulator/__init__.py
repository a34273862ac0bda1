"""A simulated Xfinity site on 127.0.0.1, for tests and ``xfinity-usage --demo``.

It implements the contract in ``docs/site.rst``: the sign-in flow, the
usage JSON endpoints and the usage page, in several scenarios, with faults
injected on demand::

    with SimulatedSite(scenario="normal") as site:
        client = XfinityUsage(DEMO_USERNAME, DEMO_PASSWORD, urls=site.urls)
"""
from .faults import FAULT_KINDS, Fault
from .server import DEMO_PASSWORD, DEMO_USERNAME, SCENARIOS, SimulatedSite

__all__ = ["SimulatedSite", "Fault", "FAULT_KINDS", "DEMO_USERNAME", "DEMO_PASSWORD", "SCENARIOS"]
