"""Records of the video chain: frame descriptors, frame matches, aligned chains.

embed -> ``VideoFeatures`` -> index -> ``Neighbours`` -> candidates -> ``PairMatches`` ->
align -> ``Chain`` -> score -> ``Segment`` (``reeltrace.records``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..roundtrip import Record


@dataclass
class VideoFeatures(Record):
    """Frame descriptors of one video, in time order.

    ``embeddings[i]`` (L2-normalised) describes the frame shown at ``timestamps[i]`` seconds.
    Query features carry several descriptors per instant (one per ``views[i]``: full frame,
    content region, and their mirror images), so ``timestamps`` may repeat.
    """

    timestamps: np.ndarray  # (n,) float64 seconds
    embeddings: np.ndarray  # (n, d) float32
    views: np.ndarray  # (n,) int8, see embed.View
    duration: float
    sample_fps: float

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True)
class Neighbours(Record):
    """The nearest work frames of each query descriptor (``VisualIndex.search``): row ``i``
    holds descriptor ``i``'s neighbours, most similar first; a missing neighbour (fewer
    indexed frames than asked for) has work key -1."""

    similarities: np.ndarray  # (n, k) float32 inner products (cosine similarity)
    work_keys: np.ndarray  # (n, k) int64
    frames: np.ndarray  # (n, k) int64 frame numbers within the work

    def __len__(self) -> int:
        return len(self.similarities)


@dataclass
class PairMatches(Record):
    """Frame-level candidate matches between one query and one work (one row per pair)."""

    work_key: int
    query_times: np.ndarray  # (m,) seconds
    work_times: np.ndarray  # (m,) seconds
    scores: np.ndarray  # (m,) cosine similarity


@dataclass(frozen=True)
class Chain(Record):
    """One aligned segment before it is scored: its nodes and its line w = speed q + offset."""

    query_times: np.ndarray
    work_times: np.ndarray
    scores: np.ndarray
    speed: float
    offset: float

    @property
    def query_span(self) -> float:
        return float(self.query_times[-1] - self.query_times[0])


@dataclass
class StoredFrames(Record):
    """A work's frames as the library keeps them (``storage.vectors``): every sampled frame's
    time, and one 4-bit descriptor (``codes``) per run of near-identical frames (``shots``).

    Run j covers frames ``starts[j]`` to ``starts[j + 1] - 1``; its descriptor is the first
    of them. A stored vector is named by its run number."""

    times: np.ndarray  # (frames,) float32 seconds
    starts: np.ndarray  # (runs + 1,) uint32
    codes: np.ndarray  # (runs, d/2) uint8, see codes
    code: str  # codes.CODE_NAME when written

    def __len__(self) -> int:
        return len(self.codes)
