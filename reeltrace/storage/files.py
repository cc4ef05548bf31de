"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def atomic_write(path: str, write: Callable[[str], None], mode: int | None = None) -> str:
    """Create ``path`` by ``write(tmp)`` on a temporary file in the same folder, then a
    rename (atomic on POSIX). ``mode``: permission bits before the umask (mkstemp makes
    0600). The temporary file never outlives a failed write."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".reeltrace-", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        if mode is not None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, mode & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path: str, data: bytes, mode: int | None = None) -> str:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write, mode)


def atomic_write_text(path: str, text: str) -> str:
    """``text`` as UTF-8, readable by everyone the umask allows: a report is for sharing."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode=0o666)
