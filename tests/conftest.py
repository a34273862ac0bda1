"""Shared fixtures. Each fixture module owns one concern; this file only imports them."""
# the suite's rules: a skip is a failure
from .suite_rules import pytest_configure, pytest_runtest_makereport  # noqa: F401
# the order: end-to-end tests first, so quick ones fill the end of a parallel run
from .scheduling import pytest_collection_modifyitems  # noqa: F401
# the clock: fixed instants, time-machine, and the calendar guard
from .fixtures_clock import calendar_guard, mid_cycle  # noqa: F401
# fixtures: simulated site
from .fixtures_site import site, make_site  # noqa: F401
# fixtures: browsers, Xvfb and process counting
from .fixtures_browsers import browser_name, browser_process_marker, isolated, xdg_cache, xvfb  # noqa: F401
# fixtures: the client factory and browsers shared between tests
from .fixtures_clients import make_client, shared_browser, shared_browsers  # noqa: F401
# fixtures: carbon-cache
from .fixtures_carbon import carbon  # noqa: F401
# fixtures: mosquitto brokers and a throwaway CA
from .fixtures_mqtt import make_broker, mqtt_ca  # noqa: F401
# fixtures: a real HTTP(S) server recording what it receives (webhook, notifications)
from .fixtures_http import receiver, tls_receiver  # noqa: F401
