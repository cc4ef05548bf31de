"""Verification: does the query really play a work along a claimed alignment?"""

from __future__ import annotations

import numpy as np

from .config import AudioConfig
from .evidence import QueryEvidence
from .hashes import HASH_LAYOUT
from .landmarks import anchor_steps
from .records import Verification


def work_peaks(hashes: np.ndarray, times: np.ndarray, config: AudioConfig = AudioConfig()) -> tuple[np.ndarray, np.ndarray]:
    """A work's anchor peaks, read back from its stored hashes: (frames, bins), unique and
    sorted by time. A hash keeps its anchor's frequency to ``q`` bins; the bin returned is
    the middle of that step. (Targets are anchors too, except the last few peaks.)"""
    q = config.landmarks.q
    bits = HASH_LAYOUT.anchor.bits  # the frame goes above the anchor step in one sort key
    t = np.rint(np.asarray(times, np.float64) / config.spectrum.frame_seconds).astype(np.int64)
    f = anchor_steps(hashes)
    both = np.unique((t << bits) | f)
    # 8 bytes a peak (~0.5 MB per hour of audio: 16 peaks per 1.024 s), kept for works
    # that get verified.
    return (both >> bits).astype(np.int32), ((both & HASH_LAYOUT.anchor.mask) * q + (q - 1) / 2).astype(np.float32)


CELL = 1 << 12
"""Query cells as one int64 key, ``frame * CELL + bin`` (a bin is below ``n_fft / 2 + 1 = 257``)."""


def _on_query(frames: np.ndarray, bins: np.ndarray, speed: float, offset: float, pitch: float, q_lo: float, q_hi: float,
              frame_seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The work peaks whose times map into query [q_lo, q_hi] along the line: their query
    frames (unrounded), query bins (rounded) and work frames."""
    w_lo, w_hi = sorted((speed * q_lo + offset, speed * q_hi + offset))
    i0, i1 = np.searchsorted(frames, [w_lo / frame_seconds, w_hi / frame_seconds])
    t_q = (frames[i0:i1] * frame_seconds - offset) / speed / frame_seconds
    return t_q, np.rint(bins[i0:i1] / pitch).astype(np.int64), frames[i0:i1]


def work_cells(frames: np.ndarray, bins: np.ndarray, speed: float, offset: float, pitch: float, q_lo: float,
               q_hi: float, config: AudioConfig = AudioConfig()) -> np.ndarray:  # fmt: skip
    """The query cells (``CELL`` keys, sorted) that a work's peaks cover along a line,
    widened by ``VerifyParams.explain_dt`` frames and ``explain_df`` bins: what
    ``verify_alignment(..., exclude=...)`` sets aside for a weaker work."""
    vp = config.verify
    t_q, f_q, _ = _on_query(frames, bins, speed, offset, pitch, q_lo, q_hi, config.spectrum.frame_seconds)
    dt, df = np.meshgrid(np.arange(-vp.explain_dt, vp.explain_dt + 1), np.arange(-vp.explain_df, vp.explain_df + 1))
    t = np.rint(t_q).astype(np.int64)
    return np.unique(((t[:, None] + dt.ravel()) * CELL + (f_q[:, None] + df.ravel())).ravel())


def verify_alignment(evidence: QueryEvidence, frames: np.ndarray, bins: np.ndarray, speed: float, offset: float,
                     pitch: float, q_lo: float, q_hi: float, config: AudioConfig = AudioConfig(),
                     exclude: np.ndarray | None = None, within: np.ndarray | None = None) -> Verification:  # fmt: skip
    """Evidence that the query plays the work along ``w = speed * q + offset`` (seconds)
    with work frequency = ``pitch`` x query frequency, between query times q_lo and q_hi:
    ``verified``, and the query stretch it found (all 0 for none).

    Each work peak ``(t_w, f_w)`` in that stretch is mapped to the query cell
    ``(t_q, f_q) = ((t_w - offset) / speed, f_w / pitch)`` and read as ``G(t_q, f_q)``;
    ``G`` is exponential with mean 1 where the query does not play the work
    (``QueryEvidence``). Peaks of one instant (``VerifyParams.group`` = 2 frames) count
    once, at their mean ``G``, and each instant scores ``mean G - cost`` (``cost`` = 1.5):
    chance stretches drift down by 0.5 per instant, and an instant whose peaks the query
    still holds gains up to ln 130 - 1.5 = 3.4. ``verified`` is the largest sum over a run
    of consecutive instants (the maximum subarray: the stretch that plays the work,
    wherever it starts and ends), the best of the line shifted by up to ``shift`` = 2
    frames (32 ms; the hit-fitted line carries a few frames of jitter).

    ``exclude`` (``work_cells`` of stronger works on the same query stretch): a peak that
    lands on one of those cells reads at most the chance mean, ``min(G, 1)``, so what a
    work shares only with a stronger one (the same instrument on the same note at the same
    instant: one catalogue's timbre) is not evidence of its own (``match._explain_away``).
    ``within`` is the converse: a peak off those cells reads at most the chance mean, so
    what is left is the evidence of what the two works hold in common, and its stretch is
    where they share the recording.
    """
    sp, vp = config.spectrum, config.verify
    frame_seconds = sp.frame_seconds
    if q_hi <= q_lo:
        return Verification()
    t_q, f_q, work_frames = _on_query(frames, bins, speed, offset, pitch, q_lo, q_hi, frame_seconds)
    in_band = (f_q >= sp.f_min) & (f_q <= sp.f_max)
    t = np.rint(t_q).astype(np.int64)[None, :] + np.arange(-vp.shift, vp.shift + 1)[:, None]
    ok = in_band & (t >= 0) & (t < evidence.n_frames)  # (shifts, peaks)
    if not ok.any():
        return Verification()
    g = np.zeros(ok.shape, np.float64)
    g[ok] = evidence.at(t[ok], np.broadcast_to(f_q, ok.shape)[ok])
    if exclude is not None and len(exclude):
        shared = ok & np.isin(t * CELL + f_q[None, :], exclude)
        g[shared] = np.minimum(g[shared], 1.0)
    if within is not None:
        apart = ok & ~np.isin(t * CELL + f_q[None, :], within)
        g[apart] = np.minimum(g[apart], 1.0)
    # Peaks within `group` frames of each other form one instant and count once, at
    # their mean: an onset in the query (a plosive, a drum) raises every bin at once, and
    # a work transient lands several peaks on it together, so their G values are not
    # independent draws (one coincident onset gave 8 peaks at the ceiling).
    group = np.r_[0, np.cumsum(np.diff(work_frames) > vp.group)]
    n = int(group[-1]) + 1
    cell = (np.arange(len(t))[:, None] * n + group[None, :]).ravel()
    total = np.bincount(cell, g.ravel(), len(t) * n).reshape(len(t), n)
    count = np.bincount(cell, ok.ravel(), len(t) * n).reshape(len(t), n)
    # A group outside the query or its band neither gains nor costs.
    gain = np.where(count > 0, total / np.maximum(count, 1) - vp.cost, 0.0)
    run = np.concatenate([np.zeros((len(gain), 1)), np.cumsum(gain, axis=1)], axis=1)
    low = np.minimum.accumulate(run, axis=1)
    row, end = np.unravel_index(np.argmax(run - low), run.shape)
    best = float(run[row, end] - low[row, end])
    if best <= 0:
        return Verification()
    start = int(np.argmin(run[row, : end + 1]))  # the run is groups start .. end - 1
    inside = (group >= start) & (group < end) & ok[row]
    seconds = t[row][inside] * frame_seconds
    return Verification(best, float(seconds.min()), float(seconds.max()))
