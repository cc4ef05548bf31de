"""Index cache files: ``<kind>-<generation><suffix>`` beside the database they derive from.

A cache names the catalogue generation it was built at; a reader whose database is at
another generation rebuilds it, so a crash between a database commit and a cache write
costs a rebuild, never a wrong answer.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable

from .files import atomic_write


def save_cache(folder: str, kind: str, suffix: str, generation: int, write: Callable[[str], None]) -> str:
    """Write ``<kind>-<generation><suffix>`` with ``write(tmp_path)`` and an atomic rename,
    then drop the caches of older generations."""
    os.makedirs(folder, exist_ok=True)
    path = atomic_write(os.path.join(folder, f"{kind}-{generation}{suffix}"), write)
    for old in glob.glob(os.path.join(folder, f"{kind}-*{suffix}")):
        try:
            if int(os.path.basename(old)[len(kind) + 1 : -len(suffix)]) < generation:
                os.unlink(old)
        except (ValueError, OSError):
            pass
    return path
