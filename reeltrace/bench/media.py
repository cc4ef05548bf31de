"""Where the benchmarks find real media when ``--media`` names none."""

from __future__ import annotations

import os


def default_media() -> list[str]:
    """The media folders that exist, in this order: ``../shared/media`` beside the working
    directory, then ``$XDG_CACHE_HOME/reeltrace-media`` (``~/.cache/reeltrace-media``);
    a folder reached twice (a link) is listed once."""
    folders = [os.path.join(os.getcwd(), "..", "shared", "media"),
               os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "reeltrace-media")]  # fmt: skip
    out: list[str] = []
    for f in folders:
        if os.path.isdir(f) and os.path.realpath(f) not in {os.path.realpath(o) for o in out}:
            out.append(f)
    return out
