"""Verification: does the query really play a work along a claimed alignment?"""

from __future__ import annotations

import numpy as np

from .config import F_MAX, F_MIN, FRAME_SECONDS, Q
from .evidence import QueryEvidence
from .landmarks import anchor_steps

VERIFY_COST = 1.5  # evidence a work peak must beat to lengthen a verified stretch
VERIFY_SHIFT = 2  # frames: the line may sit this far off the true alignment
VERIFY_PAD = 2.0  # query seconds beyond a segment's first and last hit that are verified
VERIFY_GROUP = 2  # frames: work peaks closer than this in time are one instant


def work_peaks(hashes: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A work's anchor peaks, read back from its stored hashes: (frames, bins), unique and
    sorted by time. A hash keeps its anchor's frequency to ``Q`` bins; the bin returned is
    the middle of that step. (Targets are anchors too, except the last few peaks.)"""
    t = np.rint(np.asarray(times, np.float64) / FRAME_SECONDS).astype(np.int64)
    f = anchor_steps(hashes)
    both = np.unique((t << 8) | f)
    # 8 bytes a peak (~0.5 MB per hour of audio), kept for works that get verified.
    return (both >> 8).astype(np.int32), ((both & 0xFF) * Q + (Q - 1) / 2).astype(np.float32)


def verify_alignment(evidence: QueryEvidence, frames: np.ndarray, bins: np.ndarray, speed: float, offset: float,
                     pitch: float, q_lo: float, q_hi: float) -> tuple[float, float, float]:  # fmt: skip
    """Evidence that the query plays the work along ``w = speed * q + offset`` (seconds)
    with work frequency = ``pitch`` x query frequency, between query times q_lo and q_hi:
    ``(verified, start, end)``, the query stretch it found (0, 0, 0 for none).

    Each work peak ``(t_w, f_w)`` in that stretch is mapped to the query cell
    ``(t_q, f_q) = ((t_w - offset) / speed, f_w / pitch)`` and read as ``G(t_q, f_q)``;
    ``G`` is exponential with mean 1 where the query does not play the work
    (``QueryEvidence``). Peaks of one instant (``VERIFY_GROUP``) count once, at their mean
    ``G``, and each instant scores ``mean G - VERIFY_COST``: chance stretches drift down by
    0.5 per instant, and an instant whose peaks the query still holds gains up to
    ln 130 - 1.5 = 3.4. ``verified`` is the largest sum over a run of consecutive instants
    (the maximum subarray: the stretch that plays the work, wherever it starts and ends),
    the best of the line shifted by up to ``VERIFY_SHIFT`` frames (the hit-fitted line
    carries a few frames of jitter).
    """
    if q_hi <= q_lo:
        return 0.0, 0.0, 0.0
    w_lo, w_hi = sorted((speed * q_lo + offset, speed * q_hi + offset))
    i0, i1 = np.searchsorted(frames, [w_lo / FRAME_SECONDS, w_hi / FRAME_SECONDS])
    t_q = (frames[i0:i1] * FRAME_SECONDS - offset) / speed / FRAME_SECONDS
    f_q = np.rint(bins[i0:i1] / pitch).astype(np.int64)
    in_band = (f_q >= F_MIN) & (f_q <= F_MAX)
    t = np.rint(t_q).astype(np.int64)[None, :] + np.arange(-VERIFY_SHIFT, VERIFY_SHIFT + 1)[:, None]
    ok = in_band & (t >= 0) & (t < evidence.n_frames)  # (shifts, peaks)
    if not ok.any():
        return 0.0, 0.0, 0.0
    g = np.zeros(ok.shape, np.float64)
    g[ok] = evidence.at(t[ok], np.broadcast_to(f_q, ok.shape)[ok])
    # Peaks within VERIFY_GROUP frames of each other form one instant and count once, at
    # their mean: an onset in the query (a plosive, a drum) raises every bin at once, and
    # a work transient lands several peaks on it together, so their G values are not
    # independent draws (one coincident onset gave 8 peaks at the ceiling).
    group = np.r_[0, np.cumsum(np.diff(frames[i0:i1]) > VERIFY_GROUP)]
    n = int(group[-1]) + 1
    cell = (np.arange(len(t))[:, None] * n + group[None, :]).ravel()
    total = np.bincount(cell, g.ravel(), len(t) * n).reshape(len(t), n)
    count = np.bincount(cell, ok.ravel(), len(t) * n).reshape(len(t), n)
    # A group outside the query or its band neither gains nor costs.
    gain = np.where(count > 0, total / np.maximum(count, 1) - VERIFY_COST, 0.0)
    run = np.concatenate([np.zeros((len(gain), 1)), np.cumsum(gain, axis=1)], axis=1)
    low = np.minimum.accumulate(run, axis=1)
    row, end = np.unravel_index(np.argmax(run - low), run.shape)
    best = float(run[row, end] - low[row, end])
    if best <= 0:
        return 0.0, 0.0, 0.0
    start = int(np.argmin(run[row, : end + 1]))  # the run is groups start .. end - 1
    inside = (group >= start) & (group < end) & ok[row]
    seconds = t[row][inside] * FRAME_SECONDS
    return best, float(seconds.min()), float(seconds.max())
