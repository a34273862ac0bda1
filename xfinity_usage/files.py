"""Where the tool keeps its files (XDG directories), and private writes: 0600 files in 0700 directories."""
from __future__ import annotations

import os
import tempfile
from typing import Mapping

#: XDG base directory variable and its default under ``$HOME``, by kind.
_XDG = {
    "cache": ("XDG_CACHE_HOME", ".cache"),
    "config": ("XDG_CONFIG_HOME", ".config"),
    "data": ("XDG_DATA_HOME", os.path.join(".local", "share")),
    "state": ("XDG_STATE_HOME", os.path.join(".local", "state")),
}
APP_DIR = "xfinity-usage"


def xdg_dir(kind: str, env: Mapping[str, str] | None = None) -> str:
    """This tool's directory of ``kind`` (cache, config, data or state), e.g. ``~/.cache/xfinity-usage``.

    ``env`` defaults to :data:`os.environ`, which is only read. A relative
    ``XDG_*_HOME`` is ignored, as the XDG spec says.
    """
    env = os.environ if env is None else env
    variable, default = _XDG[kind]
    base = env.get(variable) or ""
    if not os.path.isabs(base):
        home = env.get("HOME") or _home_from_passwd()
        base = os.path.join(home, default)
    return os.path.join(base, APP_DIR)


def _home_from_passwd() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_dir


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
