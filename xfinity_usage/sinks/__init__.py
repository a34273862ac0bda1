"""Where a reading goes besides stdout: one module per sink, behind one small protocol.

A sink module defines ``NAME``; ``Settings``, a frozen dataclass of its
options (each field named as the option's ``dest``); ``add_arguments(parser)``,
which declares those options in its own help group; and
``build(settings, context) -> Sink | None`` (None when the settings do not ask
for it; ConfigError when they are wrong). :data:`MODULES` registers them, in
the order they are fed; adding a sink is one module and one line there. The
command line (:func:`xfinity_usage.cli.runs.open_sinks`) turns its parsed
options into each module's ``Settings``: no ``argparse.Namespace`` reaches a
sink, and a program can build one from its own settings.

Each module imports its heavy or optional library only when its sink is
used, so ``-h`` and ``--version`` stay cheap. The pipeline
(:mod:`xfinity_usage.pipeline`) feeds every sink every reading; a sink that
fails raises an :class:`~xfinity_usage.errors.XfinityUsageError` and the
others are still fed.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Protocol

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading

#: The sink modules of this package, in the order a reading is fed to them.
MODULES = ("graphite", "mqtt", "prometheus", "webhook", "notify")


@dataclasses.dataclass
class Context:
    """What a sink may need besides its options.

    ``env``: the environment to read secrets from (``MQTT_PASSWORD``, ...);
    ``secrets``: the run's masked strings, to which a sink adds those it reads;
    ``long_running``: True for ``--interval`` (keep connections, serve ``/metrics``);
    ``timeout``: the run's ``--timeout``, within which a sink may retry;
    ``history``: True when the run keeps a history (the report then rests on it);
    ``history_path``: where that history is (None without one), for a sink that keeps state there.
    """

    env: Mapping[str, str]
    secrets: list
    long_running: bool = False
    timeout: float = 180.0
    history: bool = True
    history_path: Optional[str] = None


class Sink(Protocol):
    """A destination of readings."""

    #: A short name for messages ("graphite", "mqtt", ...).
    name: str
    #: True when :meth:`publish` uses the report (the pipeline then builds one).
    wants_report: bool

    def open(self) -> None:
        """Connect or start serving; called once, before the first reading."""

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        """Send one reading (and its report, when built); raise XfinityUsageError on failure."""

    def failed(self, error: Exception) -> None:
        """A run got no reading (e.g. Prometheus says ``up`` 0); raise XfinityUsageError on failure."""

    def close(self) -> None:
        """Disconnect and stop; never raises."""


def modules() -> List[Any]:
    """The sink modules of :data:`MODULES`, imported, in order."""
    return [importlib.import_module(f"{__name__}.{name}") for name in MODULES]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every sink's options to the CLI's parser."""
    for module in modules():
        module.add_arguments(parser)


__all__ = ["MODULES", "Context", "Sink", "add_arguments", "modules"]
