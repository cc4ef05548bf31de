"""Static shots stored once: consecutive near-identical work frames share one descriptor.

A frame joins the run of the last *kept* frame when their descriptors' cosine is at least
``merge_similarity`` and it follows the previous frame by at most ``max_gap`` seconds;
otherwise it starts a run and is kept. Comparing with the kept frame, not the previous one,
bounds the drift inside a run: every frame of a run is within ``merge_similarity`` of the
descriptor that stands for it.

Measured on 101 real works (4,018 frames at 2/s, docs/index.md): consecutive frames have
cosine 0.71 / 0.93 / 0.997 at p10 / p50 / p90; merging at 0.97 keeps 71% of them (the film
79%, talk-show episodes 57-64%), at 0.99 83%, at 0.95 63%. 0.97 is where the saving is
large and a merged frame's similarity to any query moves by at most ~0.03, below the
spread of a true chain's frame scores. The matcher expands a run back to every frame time
(``runs``), so alignment sees the same timeline as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShotParams:
    merge_similarity: float = 0.97
    """Cosine at or above which a frame is stored as the kept frame before it."""
    max_gap: float = 1.0
    """Seconds: a longer gap between sampled frames (skipped blank frames) starts a run."""


def merge_static_shots(times: np.ndarray, vectors: np.ndarray, params: ShotParams = ShotParams()) -> np.ndarray:
    """Run starts: ``starts[j]`` is the first frame of run j, ``starts[-1] == len(times)``.
    The kept descriptors are ``vectors[starts[:-1]]``."""
    n = len(times)
    if n == 0:
        return np.zeros(1, np.uint32)
    times = np.asarray(times, np.float64)
    vectors = np.asarray(vectors, np.float32)
    starts = [0]
    kept = vectors[0]
    for i in range(1, n):
        if times[i] - times[i - 1] > params.max_gap or float(vectors[i] @ kept) < params.merge_similarity:
            starts.append(i)
            kept = vectors[i]
    starts.append(n)
    return np.asarray(starts, np.uint32)


def run_of_frames(starts: np.ndarray) -> np.ndarray:
    """For each frame, the number of the run (stored descriptor) that stands for it."""
    starts = np.asarray(starts, np.int64)
    return np.repeat(np.arange(len(starts) - 1), np.diff(starts))
