"""The webhook sink: ``--webhook URL`` POSTs each reading as JSON.

The body (:func:`body`) carries the figures, the cycle's dates, the source,
the time and the projection, and the report when history is on; never a
secret. An optional bearer token comes from ``WEBHOOK_TOKEN`` or
``WEBHOOK_TOKEN_FILE``, never from a flag. Each POST may take 10 s; TLS
certificates are always verified; a failed POST (no connection, a 429 or a
5xx) is tried again within ``--timeout``. Messages show the URL's scheme,
host and port only: its user, password, path and query are where tokens live.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Callable, Optional

from .. import options
from ..errors import ConfigError, WebhookError

if TYPE_CHECKING:
    from ..history.report import Report
    from ..reading import Reading
    from ..retry import Backoff
    from . import Context

logger = logging.getLogger(__name__)

NAME = "webhook"
#: Seconds one POST may take.
TIMEOUT = 10.0
#: Tries after the first failing POST (within the run's --timeout).
RETRIES = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "webhook", "POST each reading as JSON; a bearer token comes from WEBHOOK_TOKEN or\n"
                   "WEBHOOK_TOKEN_FILE, never from a flag")
    group.add_argument("--webhook", metavar="URL", help="POST each reading to URL (http or https)")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The webhook's option (the token is not one: it comes from the environment)."""

    webhook: Optional[str] = None


def build(settings: Settings, context: Context) -> Optional[WebhookSink]:
    """The sink ``settings`` ask for (None without ``--webhook``); the token from ``context.env``."""
    url = settings.webhook
    if not url:
        return None
    token = options.secret_from_env(context.env, "WEBHOOK_TOKEN").strip()
    parts = urllib.parse.urlsplit(url)
    for secret in (token, parts.username, parts.password, parts.query, parts.path if len(parts.path) >= 8 else ""):
        if secret:  # a path can be the secret itself (Home Assistant's /api/webhook/<id>)
            context.secrets.append(secret)
    return WebhookSink(url, token=token or None, timeout=context.timeout, history=context.history)


def shown(url: str) -> str:
    """``url`` as messages show it: its scheme, host and port; the user, password, path and query,
    where tokens live (Home Assistant's webhook id is its path), are left out."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    hidden = parts.path not in ("", "/") or parts.query
    return urllib.parse.urlunsplit((parts.scheme, host, "/…" if hidden else parts.path, "", ""))


def body(reading: Reading, report: Optional[Report], *, with_report: bool = True) -> dict:
    """The JSON POSTed for ``reading``: figures, cycle, source, time, projection, overage (None when the
    answer has no terms) and, ``with_report``, the whole report (its
    :meth:`~xfinity_usage.history.report.Report.to_dict`)."""
    when = datetime.datetime.fromtimestamp(reading.data_timestamp, datetime.timezone.utc)
    overage = report.overage if report is not None else None
    document = {
        "used": reading.used,
        "total": reading.total,
        "units": reading.units,
        "percent": report.percent if report is not None else None,
        "cycle_start": _iso(reading.cycle_start or (report.cycle_start if report is not None else None)),
        "cycle_end": _iso(reading.cycle_end or (report.cycle_end if report is not None else None)),
        "source": reading.source,
        "data_timestamp": reading.data_timestamp,
        "time": when.isoformat().replace("+00:00", "Z"),
        "projected": report.projected if report is not None else None,
        "projection_basis": report.projection_basis if report is not None else None,
        "days_left": report.days_left if report is not None else None,
        "overage": overage.to_dict() if overage is not None else None,
    }
    if with_report and report is not None:
        document["report"] = report.to_dict()
    return document


def _iso(day: Optional[datetime.date]) -> Optional[str]:
    return None if day is None else day.isoformat()


class WebhookSink:
    """POSTs readings to one URL (:func:`xfinity_usage.transport.request`: a connection per POST)."""

    name = NAME
    wants_report = True

    def __init__(self, url: str, *, token: Optional[str] = None, timeout: float = 180.0, history: bool = True,
                 ca_certs: Optional[str] = None, backoff: Optional[Callable[[], Backoff]] = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--webhook {shown(url)} is not an http:// or https:// URL")
        self.url = url
        self.token = token
        self.timeout = timeout
        self.history = history
        self.ca_certs = ca_certs
        self.backoff = backoff

    def open(self) -> None:
        pass

    def _post(self, payload: bytes) -> None:
        from ..errors import SiteUnavailableError
        from ..transport import UntrustedCertificate, request, retry_after

        headers = {"Content-Type": "application/json", "User-Agent": "xfinity-usage"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        where = shown(self.url)
        try:
            status, _ = answer = request("POST", self.url, headers, payload, TIMEOUT, ca_certs=self.ca_certs,
                                         where=where)
        except UntrustedCertificate as exc:
            raise WebhookError(f"the TLS certificate of {where} is not trusted ({exc.reason})") from None
        except SiteUnavailableError as exc:
            error = WebhookError(f"cannot POST to {str(exc)}")
            error.transient = True
            raise error from None
        if status >= 300:
            error = WebhookError(f"{where} answered HTTP {status}")
            error.transient = status == 429 or status >= 500
            error.retry_after = retry_after(answer, time.time())  # type: ignore[attr-defined]
            raise error
        logger.info("POSTed the reading to %s (HTTP %d)", where, status)

    def publish(self, reading: Reading, report: Optional[Report]) -> None:
        from ..retry import Backoff, Deadline, retrying

        payload = json.dumps(body(reading, report, with_report=self.history), sort_keys=True).encode()
        retrying(lambda: self._post(payload), Deadline(self.timeout), f"POST to {shown(self.url)}", RETRIES,
                 self.backoff or Backoff, wait_for=lambda exc: getattr(exc, "retry_after", None))

    def failed(self, error: Exception) -> None:
        pass

    def close(self) -> None:
        pass
