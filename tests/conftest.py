"""Shared fixtures. Each fixture module owns one concern; this file only imports them."""
# fixtures: simulated site
# fixtures: browsers, Xvfb and process counting
# fixtures: carbon-cache
