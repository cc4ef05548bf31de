"""Bounds on the work one input may cost: its duration, its picture size and the time spent
decoding it. The service sets them (a small file can hold an hour of video, or an 8K
picture); the CLI sets none.

``InputLimits.check(info)`` is called on a file's probe; ``InputLimits.budget()`` gives the
``Budget`` that the frame and sample loops check as they decode, since a file's header may
understate what its streams hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..records import MediaInfo
from .container import MediaError


class LimitExceeded(MediaError):
    """An input over one of its ``InputLimits`` (fatal even where a bad optional stream is not)."""


@dataclass(frozen=True)
class InputLimits:
    """None: no bound."""

    max_duration_s: float | None = None
    max_pixels: int | None = None  # width x height of the picture
    max_seconds: float | None = None  # wall time decoding (and embedding) one input

    def check(self, info: MediaInfo) -> None:
        """MediaError when the probed file is over a bound."""
        self.check_duration(info.duration)
        if info.has_video:
            self.check_picture(info.width, info.height)

    def check_duration(self, duration: float) -> None:
        if self.max_duration_s is not None and duration > self.max_duration_s:
            raise LimitExceeded(f"too long: {duration:.0f} s; the limit is {self.max_duration_s:.0f} s")

    def check_picture(self, width: int, height: int) -> None:
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise LimitExceeded(f"picture too large: {width}x{height}; the limit is {self.max_pixels} pixels")

    def budget(self) -> Budget:
        """The bounds of one decode, starting now."""
        deadline = None if self.max_seconds is None else time.monotonic() + self.max_seconds
        return Budget(self, deadline)


@dataclass(frozen=True)
class Budget:
    """What is left of one input's limits while it is decoded (``InputLimits.budget``), and
    whom to tell how far decoding has got: the loops that check the budget are the only
    places that know, and they already carry it to every decoder."""

    limits: InputLimits
    deadline: float | None = None  # time.monotonic()
    on_progress: Callable[[str, float], None] | None = None  # (stream: "picture" | "sound", stream seconds reached)

    def check(self, t: float = 0.0, width: int = 0, height: int = 0, stream: str = "picture") -> None:
        """MediaError when decoding has run past the time limit, reached stream time ``t``
        past the duration limit, or met a picture over the pixel limit."""
        if self.on_progress is not None:
            self.on_progress(stream, t)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise LimitExceeded(f"took longer than the limit of {self.limits.max_seconds:g} s to decode")
        limit = self.limits.max_duration_s
        if limit is not None and t > limit + 1.0:  # a second of slack over what the header said
            raise LimitExceeded(f"too long: more than {limit:.0f} s of stream; the limit is {limit:.0f} s")
        if width and height:
            self.limits.check_picture(width, height)


NO_BUDGET = InputLimits().budget()
"""A budget without bounds (the default of the decode loops)."""
