"""Write files that hold session data: 0600 files in 0700 directories, atomically."""
from __future__ import annotations

import os
import tempfile


def ensure_private_dir(path: str) -> None:
    """Create ``path`` (and parents) with mode 0700 if it does not exist."""
    if path and not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)


def write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    ensure_private_dir(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
