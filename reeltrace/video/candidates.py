"""Candidate retrieval: query frame descriptors -> frame matches grouped by work.

For every query descriptor (every view of every sampled frame) we take its ``k`` nearest
work frames and keep those with cosine similarity at least ``min_similarity``. Views of one
instant are merged, keeping the best similarity per (query instant, work frame): whether
the upload was mirrored or wrapped is thereby decided frame by frame, which is what a
compilation of differently edited clips needs. Per query instant and work only the
``per_work`` best stored descriptors go on to alignment, each expanded to every frame of
its static-shot run (``shots``), so alignment sees every sampled frame time of the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import VisualIndex
from .records import PairMatches, VideoFeatures


@dataclass(frozen=True)
class RetrievalParams:
    k: int = 64
    """Nearest work frames asked of the index per query descriptor."""
    min_similarity: float = 0.35
    """Neighbours below this similarity (after the background penalty) are dropped."""
    per_work: int = 64
    """Best frames kept per query instant and work (24 before): in self-similar works
    (slides, a static set) the true frame was crowded out by look-alikes."""


def retrieve(
    index: VisualIndex,
    query: VideoFeatures,
    params: RetrievalParams = RetrievalParams(),
    penalty: np.ndarray | None = None,
) -> list[PairMatches]:
    """Frame matches between the query and every work it has neighbours in.

    ``penalty`` (one per query descriptor, see ``background``) is subtracted from each
    descriptor's similarities before anything else looks at them."""
    if len(query) == 0 or len(index) == 0:
        return []
    found = index.search(query.embeddings, params.k)
    sims, keys, frames = found.similarities, found.work_keys, found.frames
    if penalty is not None:
        sims = sims - penalty[:, None]
    keep = (keys >= 0) & (sims >= params.min_similarity)
    if not keep.any():
        return []
    rows = np.nonzero(keep)[0]
    qtime = query.timestamps[rows]
    wkey = keys[keep]
    wframe = frames[keep]
    sim = sims[keep].astype(np.float64)

    # Best view per (query instant, work, frame): sort by similarity, keep first occurrence.
    order = np.lexsort((-sim, wframe, wkey, qtime))
    qtime, wkey, wframe, sim = qtime[order], wkey[order], wframe[order], sim[order]
    first = np.ones(len(order), bool)
    first[1:] = (qtime[1:] != qtime[:-1]) | (wkey[1:] != wkey[:-1]) | (wframe[1:] != wframe[:-1])
    qtime, wkey, wframe, sim = qtime[first], wkey[first], wframe[first], sim[first]

    # Within each (work, query instant), the per_work best frames; one sort for all works
    # (a mask per work cost 0.1 s a 60 s query at 1,000 h, where ~860 works have neighbours).
    order = np.lexsort((-sim, qtime, wkey))
    qtime, wkey, wframe, sim = qtime[order], wkey[order], wframe[order], sim[order]
    group = np.r_[True, (wkey[1:] != wkey[:-1]) | (qtime[1:] != qtime[:-1])]
    starts = np.nonzero(group)[0]
    rank = np.arange(len(qtime)) - np.repeat(starts, np.diff(np.r_[starts, len(qtime)]))
    top = rank < params.per_work
    qtime, wkey, wframe, sim = qtime[top], wkey[top], wframe[top], sim[top]
    bounds = np.r_[0, np.nonzero(wkey[1:] != wkey[:-1])[0] + 1, len(wkey)]

    pairs = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        key = int(wkey[a])
        stored = index.frames(key)
        if stored is None:
            continue
        q, f, s = qtime[a:b], wframe[a:b], sim[a:b]
        starts = np.asarray(stored.starts, np.int64)
        counts = starts[f + 1] - starts[f]
        row = np.repeat(np.arange(len(f)), counts)
        frame = starts[f][row] + np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        times = np.asarray(stored.times, np.float64)[frame]
        pairs.append(PairMatches(key, q[row], times, s[row]))
    return pairs
