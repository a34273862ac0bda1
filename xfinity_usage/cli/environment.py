"""What a command-line run reads and writes outside itself; tests pass their own (httpie's pattern)."""
from __future__ import annotations

import os
import sys
from typing import IO, Mapping, Optional


class Environment:
    """The environment variables, the standard streams, and the strings masked in every line."""

    def __init__(self, env: Optional[Mapping[str, str]] = None, stdout: Optional[IO[str]] = None,
                 stderr: Optional[IO[str]] = None, stdin: Optional[IO[str]] = None):
        self.env = dict(os.environ if env is None else env)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        #: Strings masked in every log line and error message (filled in as they become known).
        self.secrets: list[str] = []


__all__ = ["Environment"]
