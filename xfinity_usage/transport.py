"""HTTP(S) requests over the standard library: one connection per request, TLS always verified.

The browser-free routes (the saved session, the app's API) and the webhook
make a few requests per run; :mod:`http.client` does that without urllib3's
import (about 40 ms) and the TLS context is built once per process, only
for https, from the system's hashed certificate directory.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from .errors import ConfigError, SiteUnavailableError


class Answer(tuple):
    """``(status, body)`` with the response's ``headers`` (lower-case names) beside it."""

    headers: dict[str, str]


class UntrustedCertificate(SiteUnavailableError):
    """The server's TLS certificate failed verification (``reason`` says why): trying again will not help."""

    transient = False
    reason = ""


#: One TLS context per CA bundle and process, built on the first https request (never for http).
_TLS: dict[str | None, Any] = {}


def tls_context(ca_certs: str | None = None) -> Any:
    """The verifying TLS context (certificates and host names checked), built once per process.

    Without ``ca_certs`` it uses the system's hashed certificate directory, which OpenSSL reads
    one certificate at a time as a server's chain needs it, instead of parsing the whole bundle
    (about 50 ms here). When the directory is absent or unhashed, or ``SSL_CERT_FILE`` names
    another bundle than OpenSSL's own, the default certificates are loaded as before.
    """
    if ca_certs not in _TLS:
        import ssl

        if ca_certs:
            context = ssl.create_default_context(cafile=ca_certs)
        else:
            paths = ssl.get_default_verify_paths()
            capath = paths.capath if paths.capath and _hashed(paths.capath) else None
            if paths.cafile and paths.openssl_cafile and \
                    os.path.realpath(paths.cafile) != os.path.realpath(paths.openssl_cafile):
                capath = None  # a bundle chosen with SSL_CERT_FILE: honour it
            context = ssl.create_default_context(capath=capath) if capath else ssl.create_default_context()
        _TLS[ca_certs] = context
    return _TLS[ca_certs]


def _hashed(directory: str) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(entry.name.endswith(".0") for entry in entries)
    except OSError:
        return False


def request(method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float, *,
            ca_certs: str | None = None, where: str | None = None) -> Answer:
    """``(status, body)`` of one request, with the answer's ``headers`` (lower-case names) beside it.

    Each request has its own connection (a run's few requests go to two
    hosts, an hour apart in a loop); redirects are not followed; TLS
    certificates and host names are always checked, with the context of
    :func:`tls_context`. A reset, refused connection, timeout or untrusted
    certificate raises SiteUnavailableError naming ``where`` (default: the
    URL without its query).
    """
    import http.client
    import ssl  # already loaded by http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    where = where or url.split("?", 1)[0]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = max(timeout, 0.001)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                           context=tls_context(ca_certs))
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        raise ConfigError(f"{where}: not an http or https address")
    try:
        conn.request(method, path, body=body, headers={**dict(headers), "Connection": "close"})
        resp = conn.getresponse()
        data = resp.read()
    except ssl.SSLCertVerificationError as exc:
        untrusted = UntrustedCertificate(f"{where}: its certificate is not trusted ({exc.verify_message})")
        untrusted.reason = str(exc.verify_message)
        raise untrusted from None
    except (OSError, http.client.HTTPException) as exc:
        raise SiteUnavailableError(f"{where} could not be reached: {exc.__class__.__name__}") from None
    finally:
        conn.close()
    answer = Answer((resp.status, data))
    answer.headers = {name.lower(): value for name, value in resp.getheaders()}
    return answer


def retry_after(answer: Any, now: float) -> float | None:
    """The ``Retry-After`` of an :class:`Answer` in seconds (delta or HTTP date, RFC 9110 10.2.3), or
    None: absent, unreadable, or a plain ``(status, body)``."""
    headers = getattr(answer, "headers", None) or {}
    value = str(headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
