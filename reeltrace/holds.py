"""Testing hook: stop a process at a named point of its work so that a test can kill it
exactly there.

Does nothing unless both ``$REELTRACE_HOLD_AT`` (a point of ``POINTS``) and
``$REELTRACE_HOLD_FILE`` (a path) are set. When the process reaches the named point while
the hold file exists, it writes its pid to ``<hold file>.reached`` and waits until the hold
file is removed (or the process is killed). The test suite uses it to SIGKILL ``register``
at each stage of a registration (tests/test_processes.py); killing after a CPU-time budget
instead sometimes landed after the stage it meant to test.

The environment is read at each call, so nothing is set up or kept between calls.
"""

from __future__ import annotations

import os
import time

from .storage.files import atomic_write_text

HOLD_AT_ENV = "REELTRACE_HOLD_AT"
HOLD_FILE_ENV = "REELTRACE_HOLD_FILE"

POINTS = (
    "register:extracting",  # the picture is embedded; the sound may still be fingerprinted
    "register:before-write",  # everything extracted, the database not yet touched
    "register:before-commit",  # the work's rows are inserted, its transaction not committed
    "register:after-commit",  # committed; the index not yet folded
    "index:fold-written",  # a fold's segment file is written, its transaction not committed
    "index:rebuild-checkpoint",  # a rebuild wrote a checkpoint and goes on adding
    "vectors:upserted",  # a fold put works' vectors on Milvus; the database does not place them there yet
    "remove:committed",  # a removal committed; its vectors not yet deleted from Milvus
)

POLL_SECONDS = 0.02


def reached_marker(hold_file: str) -> str:
    """The file a held process writes its pid to once it is waiting."""
    return hold_file + ".reached"


def hold_at(point: str) -> None:
    """Wait here while the hold file exists, if ``$REELTRACE_HOLD_AT`` names ``point``."""
    if point not in POINTS:
        raise ValueError(f"unknown hold point {point!r}")
    hold_file = os.environ.get(HOLD_FILE_ENV)
    if os.environ.get(HOLD_AT_ENV) != point or not hold_file or not os.path.exists(hold_file):
        return
    marker = reached_marker(hold_file)
    # Written whole, then renamed: a test that sees the marker can read the complete pid.
    atomic_write_text(marker, f"{os.getpid()}\n")
    while os.path.exists(hold_file):
        time.sleep(POLL_SECONDS)
