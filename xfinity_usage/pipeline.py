"""One run, from the source to every sink: read, record, report, feed the sinks.

A single run calls :meth:`Pipeline.run` once; ``--interval`` calls the same
method every interval, on the same pipeline (one client, one history
store, sinks kept open), so warm paths stay warm. This is the one place
that records a reading and the one place that builds the report.

Every sink gets every reading: a sink that fails is reported in the
:class:`Outcome` and the others are still fed. A run that gets no reading
tells every sink (:meth:`~xfinity_usage.sinks.Sink.failed`) before its
error propagates.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from .errors import XfinityUsageError

if TYPE_CHECKING:
    from .history.report import Report
    from .history.store import HistoryStore
    from .reading import Reading
    from .sinks import Sink

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SinkFailure:
    """A sink that did not take a reading (or did not open)."""

    sink: str
    error: XfinityUsageError

    @property
    def line(self) -> str:
        """The one stderr line that tells it (without the program's name): ``graphite: cannot ...``."""
        return f"{self.sink}: {' '.join(str(self.error).split())}"


@dataclasses.dataclass
class Outcome:
    """What one run produced: the reading (None for ``--offline``), the report (None when
    nothing needed one) and the sinks that failed."""

    reading: Optional[Reading]
    report: Optional[Report]
    failures: list = dataclasses.field(default_factory=list)


class Pipeline:
    """Read with ``read`` (None: report from the history alone), record in the history at
    ``history_path`` (None: no history), build the report when ``want_report`` or a sink wants
    it, then feed ``sinks``.

    ``history_required`` makes a history that cannot be opened or written an error (``--report``,
    ``--offline``) instead of a warning. ``clock`` is the wall time (the report's "now").
    """

    def __init__(self, read: Optional[Callable[[], Reading]], *, history_path: Optional[str] = None,
                 sinks: Sequence[Sink] = (), want_report: bool = False, history_required: bool = False,
                 clock: Callable[[], float] = time.time):
        self.read = read
        self.history_path = history_path
        self.sinks = list(sinks)
        self.want_report = want_report or any(sink.wants_report for sink in self.sinks)
        self.history_required = history_required
        self.clock = clock
        self.store: Optional[HistoryStore] = None
        #: The :class:`SinkFailure` s of sinks that did not open (set by ``with``).
        self.open_failures: list = []
        self._opened: list = []

    # -- life cycle

    def open(self) -> list:
        """Open the history, then every sink; returns the :class:`SinkFailure` s of sinks that did not open
        (they are still fed: a broker that is down now may be up for the next reading)."""
        self.store = self._open_history()
        failures = []
        for sink in self.sinks:
            try:
                sink.open()
            except XfinityUsageError as exc:
                failures.append(SinkFailure(sink.name, exc))
            self._opened.append(sink)
        return failures

    def _open_history(self) -> Optional[HistoryStore]:
        if self.history_path is None:
            return None
        from .history.store import HistoryError, HistoryStore

        try:
            return HistoryStore(self.history_path)
        except HistoryError as exc:
            if self.history_required:
                raise
            logger.warning("history not recorded: %s", exc)
            return None

    def close(self) -> None:
        """Close every opened sink (never raises) and the history."""
        while self._opened:
            sink = self._opened.pop()
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the run's own outcome
                logger.warning("%s: %s", sink.name, exc)
        store, self.store = self.store, None
        if store is not None:
            store.close()

    def __enter__(self) -> Pipeline:
        self.open_failures = self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- one run

    def run(self, before_sinks: Optional[Callable[[Outcome], None]] = None) -> Outcome:
        """One run. ``before_sinks(outcome)`` is called once the report is built, before any
        sink is fed (the CLI prints there). Raises the source's error after telling every sink."""
        reading = None
        if self.read is not None:
            try:
                reading = self.read()
            except XfinityUsageError as exc:
                self._failed(exc)
                raise
        report = self._record_and_report(reading)
        outcome = Outcome(reading, report)
        if before_sinks is not None:
            before_sinks(outcome)
        if reading is not None:
            for sink in self.sinks:
                try:
                    sink.publish(reading, report)
                except XfinityUsageError as exc:
                    outcome.failures.append(SinkFailure(sink.name, exc))
                except Exception as exc:  # noqa: BLE001 - a sink's bug must not keep the reading from the others
                    logger.debug("%s failed", sink.name, exc_info=True)
                    outcome.failures.append(SinkFailure(sink.name, XfinityUsageError(
                        f"unexpected error: {exc.__class__.__name__}: {exc} (run with -vv for the traceback "
                        "and report it)")))
        return outcome

    def _failed(self, error: XfinityUsageError) -> None:
        for sink in self.sinks:
            try:
                sink.failed(error)
            except XfinityUsageError as exc:  # the run's own error wins; this one is only logged
                logger.warning("%s: %s", sink.name, exc)

    def _record_and_report(self, reading: Optional[Reading]) -> Optional[Report]:
        if self.store is not None and reading is not None:
            from .history.store import HistoryError

            try:
                self.store.record(reading)
            except HistoryError as exc:
                if self.history_required:
                    raise
                logger.warning("history not recorded: %s", exc)
        if not (self.want_report or reading is None):
            return None
        from .history.report import build_report

        now = self.clock()
        report = build_report(self.store if self.store is not None else [], reading, now=now)
        if reading is None and report.as_of is not None:
            age = _age(now - report.as_of)
            report = report.with_note_first(f"offline: from the history alone; the newest reading is {age} old")
        return report


def _age(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 120:
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


__all__ = ["Outcome", "Pipeline", "SinkFailure"]
