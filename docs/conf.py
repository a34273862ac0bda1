"""Sphinx configuration for xfinity-usage."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
from xfinity_usage.version import __version__  # noqa: E402

project = "xfinity-usage"
author = "xfinity-usage developers"
copyright = "2026, xfinity-usage developers"
version = release = __version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_mock_imports = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
