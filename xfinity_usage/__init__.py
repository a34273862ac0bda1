"""Read Xfinity internet data usage through the Xfinity app's API or with a real browser (Selenium)."""
from .errors import (
    AccessDeniedError,
    AccountActionRequiredError,
    BadCredentialsError,
    BrowserError,
    ConfigError,
    DataError,
    ExitCode,
    GraphiteError,
    SiteChangedError,
    SiteUnavailableError,
    XfinityUsageError,
)
from .version import __version__

__all__ = [
    "XfinityUsage",
    "__version__",
    "AccessDeniedError",
    "AccountActionRequiredError",
    "BadCredentialsError",
    "BrowserError",
    "ConfigError",
    "DataError",
    "ExitCode",
    "GraphiteError",
    "SiteChangedError",
    "SiteUnavailableError",
    "XfinityUsageError",
]


def __getattr__(name):
    # Lazy, so that `import xfinity_usage` (and --version) stays cheap.
    if name == "XfinityUsage":
        from .client import XfinityUsage

        return XfinityUsage
    raise AttributeError(name)
