"""Public baselines, run on the same data set as reeltrace.

vPDQ (Meta's video PDQ, PyPI ``vpdq``, ThreatExchange reference implementation): a 256-bit
PDQ perceptual hash per sampled frame. Frames match by vPDQ's own rule: Hamming distance
at most 31 and both hashes of quality at least 50. vPDQ decides at video level (what
share of the query's frames match); to put it on the segment metrics, matched frame pairs
of one (query, work) pair are grouped by time offset ``work - query`` (1 s bins, the
simplest localisation) and each offset group's query span is a segment, scored by vPDQ's
query match share over that span. Install with ``pip install vpdq`` (it builds against
FFmpeg's development libraries: Debian ``libavcodec-dev libavformat-dev libswscale-dev``).
"""

from __future__ import annotations

import resource
import time

import numpy as np

from ..metrics import Box
from ...media.container import probe
from .records import SystemRun

SECONDS_PER_HASH = 0.5  # as reeltrace's 2 frames/s
DISTANCE = 31
QUALITY = 50


def _hashes(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, bits (n, 256) bool) of the frames vPDQ rates good enough to use."""
    import vpdq

    feats = vpdq.computeHash(path, seconds_per_hash=SECONDS_PER_HASH, downsample_width=0, downsample_height=0)
    keep = [f for f in feats if f.quality >= QUALITY]
    times = np.array([f.timestamp for f in keep], np.float64)
    bits = np.array([[int(c, 16) >> s & 1 for c in f.hex for s in (3, 2, 1, 0)] for f in keep], bool).reshape(-1, 256)
    return times, bits


def _segments(qt: np.ndarray, wt: np.ndarray, q_total: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Group matched (query, work) frame pairs by offset; one segment per offset group."""
    out = []
    offsets = np.round(wt - qt).astype(int)
    used = np.zeros(len(qt), bool)
    for off in sorted(set(offsets), key=lambda o: -int((offsets == o).sum())):
        near = (np.abs(offsets - off) <= 1) & ~used
        if near.sum() < 2:
            continue
        used |= near
        q0, q1 = qt[near].min(), qt[near].max() + SECONDS_PER_HASH
        span = (q_total >= q0) & (q_total < q1)
        share = len(np.unique(qt[near])) / max(int(span.sum()), 1)
        out.append((q0, q1, q0 + off, q1 + off, float(min(share, 1.0))))
    return out


def run_vpdq(truth: dict, folder: str) -> SystemRun:
    run = SystemRun("vPDQ")
    works = {}
    for work in truth["works"]:
        started = time.perf_counter()
        works[work["id"]] = _hashes(work["path"])
        run.register_seconds += time.perf_counter() - started
        run.registered_seconds += probe(work["path"]).duration
    for query in truth["queries"]:
        started = time.perf_counter()
        qt, qb = _hashes(query["path"])
        for work_id, (wt, wb) in works.items():
            if len(qt) == 0 or len(wt) == 0:
                continue
            distance = (qb[:, None, :] != wb[None, :, :]).sum(axis=2)
            qi, wi = np.nonzero(distance <= DISTANCE)
            if len(qi) == 0:
                continue
            for q0, q1, w0, w1, score in _segments(qt[qi], wt[wi], qt):
                run.predictions.append(Box(query["id"], work_id, q0, q1, w0, w1, score))
        run.scan_seconds += time.perf_counter() - started
        run.scanned_seconds += query["duration"]
    run.index_bytes = sum(len(t) * (32 + 8) for t, _ in works.values())  # 256-bit hash + timestamp
    run.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return run


RUNNERS = {"vpdq": run_vpdq}
THRESHOLDS = {"vpdq": 0.5}
"""Default operating point: a segment whose span has at least half its frames matched."""
