"""The import path of xfinity-usage 3.0.4: ``from xfinity_usage.xfinity_usage import XfinityUsage``."""
from .client import XfinityUsage

__all__ = ["XfinityUsage"]
