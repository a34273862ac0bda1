"""Shared fixtures. Each fixture module owns one concern; this file only imports them."""
# fixtures: simulated site
from .fixtures_site import site, make_site  # noqa: F401
# fixtures: browsers, Xvfb and process counting
from .fixtures_browsers import browser_name, browser_process_marker, isolated, xvfb  # noqa: F401
# fixtures: carbon-cache
from .fixtures_carbon import carbon  # noqa: F401
# fixtures: mosquitto brokers and a throwaway CA
from .fixtures_mqtt import make_broker, mqtt_ca  # noqa: F401
