"""A response as a value, so faults can rewrite it before it is sent."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import pages


@dataclass
class Response:
    """Status, headers and body of one answer."""

    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: The decoded JSON this body was made from, if any (faults rewrite it).
    data: Any = None

    @property
    def is_json(self) -> bool:
        """True for an ``application/json`` body."""
        return self.content_type.startswith("application/json")


def html(text: str, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    """An HTML page."""
    return Response(status, text.encode("utf-8"), headers=list(headers or []))


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON body, ``application/json``."""
    return Response(status, json.dumps(data).encode("utf-8"), "application/json", data=data)


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """A ``302 Found`` to ``location``."""
    return Response(302, b"", headers=[("Location", location)] + list(headers or []))


REASONS = {500: "Internal Server Error", 503: "Service Unavailable"}


def error(status: int) -> Response:
    """A server error page."""
    return html(pages.error_page(status, REASONS.get(status, "Error")), status)
