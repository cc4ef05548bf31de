"""Lengths of sets of intervals on one time axis."""

from __future__ import annotations

import math
from collections.abc import Iterable


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """The length ``intervals`` cover together: overlaps count once, and an empty or
    inverted interval (end at or before start) covers nothing."""
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop > max(start, end):
            total += stop - max(start, end)
            end = stop
    return total
