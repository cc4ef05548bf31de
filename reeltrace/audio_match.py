"""Audio index and matching: landmark hashes of a query -> aligned segments of works.

The index holds every work's pair hashes sorted by hash value (numpy ``argsort``), so
the works sharing a query hash are one ``searchsorted`` range away.

Matching (Wang 2003, extended to speed hypotheses). A query pass ``k`` assumes work time
``w = a_k q + o`` for its time scale ``a_k``. Every hash hit ``(q, w)`` in work ``W`` votes
for the offset ``o = w - a_k q``, in bins of ``bin_width`` (two grids half a bin apart, so
a true offset on a bin edge is not split). Hits of unrelated audio scatter over all
offsets; a reused stretch piles its hits into one bin. From the fullest bin down (at
least ``min_hits`` votes):

1. collect the work's hits near the line ``w = a q + o`` from every pass, fit ``a`` and
   ``o`` by least squares (speed kept within ``speed_slack`` of ``a_k``: the grid is 3%
   apart) and collect again with ``tolerance``;
2. split the line's hits, in query order, where the query goes ``max_gap`` seconds
   without one: each run is a segment from its first to its last hit, so a 5 s excerpt
   inside a 60 s query gives a 5 s segment;
3. verify each segment (``verify_alignment``): read the work's peaks, mapped through the
   line, from the query's evidence map; a stretch where the query really plays the work
   holds far more of them than chance, even where an overlay or noise took the landmark
   pairs away;
4. score each segment (``calibrated_score``) and retire its hits.

A hit is one (query anchor time, index row) pair, whichever pass and hash variant found
it, so the same landmark never counts twice.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .audio import F_MAX, F_MIN, FRAME_SECONDS, Q, AudioFingerprint, AudioQuery, QueryEvidence, anchor_steps

# Logistic calibration, fit by ``reeltrace.bench.audio.fit_calibration`` on the quick
# benchmark's segments (docs/audio.md, "Calibration"): score = 1 / (1 + exp(-z)),
# z = C0 + C_DISTINCT * ln(distinct) + C_DENSITY * density + C_VERIFIED * verified.
C0 = -37.218
C_DISTINCT = 7.8
C_DENSITY = 6.0
C_VERIFIED = 0.96
THRESHOLD = 0.5
DENSITY_SPAN = 3.0  # seconds
VERIFY_COST = 1.5  # evidence a work peak must beat to lengthen a verified stretch
VERIFY_SHIFT = 2  # frames: the line may sit this far off the true alignment
VERIFY_PAD = 2.0  # query seconds beyond a segment's first and last hit that are verified
VERIFY_GROUP = 2  # frames: work peaks closer than this in time are one instant


def calibrated_score(distinct: int, density: float, verified: float = 0.0) -> float:
    """Score of a segment whose aligned landmarks carry ``distinct`` different hash values,
    ``density`` aligned landmarks per query landmark in its span, and whose verification
    found ``verified`` (``verify_alignment``). 0.5 (``THRESHOLD``) lies above the strongest
    unrelated segment of the benchmark by a margin (docs/audio.md)."""
    z = C0 + C_DISTINCT * np.log(max(distinct, 1)) + C_DENSITY * density + C_VERIFIED * verified
    return float(1.0 / (1.0 + np.exp(-z)))


@dataclass(frozen=True)
class AudioSegment:
    """Query [query_start, query_end] plays work [work_start, work_end] at ``speed``
    work seconds per query second (``pitch``: work frequency per query frequency)."""

    work_key: int
    query_start: float
    query_end: float
    work_start: float
    work_end: float
    speed: float
    score: float
    hits: int  # aligned landmarks (distinct query anchor times)
    density: float = 0.0  # hits per query anchor time in the span
    pitch: float = 1.0
    distinct: int = 0  # distinct hash values among the hits (a held tone repeats one)
    verified: float = 0.0  # evidence of the work's peaks in the query (verify_alignment)


@dataclass(frozen=True)
class MatchParams:
    bin_width: float = 0.1  # seconds of offset per vote bin
    min_hits: int = 5  # votes a bin needs to be looked at
    tolerance: float = 0.08  # seconds a hit may sit off its line (frame jitter, 2.5 hops)
    wide: float = 0.3  # first collection around the voted line, before the fit
    speed_slack: float = 0.03  # fitted speed within this fraction of the pass's
    max_gap: float = 3.0  # query seconds without a hit that end a segment
    min_segment_hits: int = 4
    max_candidates: int = 200  # vote bins examined, fullest first
    bucket_cap: float = 40.0  # skip query hashes held this many times more than average
    min_bucket_cap: int = 32


class AudioIndex:
    """In-memory hash index over the fingerprints of all works with sound."""

    def __init__(self) -> None:
        self._works: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._peaks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # work_peaks, when first verified
        self.last_match: dict[int, list[AudioSegment]] = {}  # unfiltered result of the last ``search``

    def __len__(self) -> int:
        return sum(len(h) for h, _ in self._works.values())

    def __contains__(self, work_key: int) -> bool:
        return work_key in self._works

    @property
    def work_keys(self) -> list[int]:
        return sorted(self._works)

    def add(self, work_key: int, fp: AudioFingerprint) -> None:
        """Index a work's fingerprint (replacing any it had)."""
        self._works[int(work_key)] = (
            np.ascontiguousarray(fp.hashes, np.uint32),
            np.ascontiguousarray(fp.times, np.float32),
        )
        self._sorted = None
        self._peaks.pop(int(work_key), None)

    def remove(self, work_key: int) -> None:
        self._peaks.pop(int(work_key), None)
        if self._works.pop(int(work_key), None) is not None:
            self._sorted = None

    def peaks(self, work_key: int) -> tuple[np.ndarray, np.ndarray]:
        """The work's anchor peaks as (frames, bins), sorted by time (``work_peaks``)."""
        got = self._peaks.get(work_key)
        if got is None:
            got = self._peaks[work_key] = work_peaks(*self._works[work_key])
        return got

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, work keys, times) of all works, sorted by hash; rebuilt after changes."""
        if self._sorted is None:
            keys = sorted(self._works)
            hashes = np.concatenate([self._works[k][0] for k in keys]) if keys else np.zeros(0, np.uint32)
            times = np.concatenate([self._works[k][1] for k in keys]) if keys else np.zeros(0, np.float32)
            works = np.repeat(np.array(keys, np.int64), [len(self._works[k][0]) for k in keys])
            order = np.argsort(hashes, kind="stable")
            self._sorted = (hashes[order], works[order], times[order])
        return self._sorted

    # -- persistence ---------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """All works' hashes and times (npz, no pickle); ``from_bytes`` rebuilds the index."""
        keys = sorted(self._works)
        buf = io.BytesIO()
        np.savez(
            buf,
            keys=np.array(keys, np.int64),
            counts=np.array([len(self._works[k][0]) for k in keys], np.int64),
            hashes=np.concatenate([self._works[k][0] for k in keys]) if keys else np.zeros(0, np.uint32),
            times=np.concatenate([self._works[k][1] for k in keys]) if keys else np.zeros(0, np.float32),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AudioIndex:
        index = cls()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            bounds = np.r_[0, np.cumsum(z["counts"])]
            hashes, times = z["hashes"], z["times"]
            for i, key in enumerate(z["keys"]):
                lo, hi = bounds[i], bounds[i + 1]
                index._works[int(key)] = (hashes[lo:hi].copy(), times[lo:hi].copy())
        return index

    # -- matching ------------------------------------------------------------------------

    def _lookup(self, passes: Sequence[AudioFingerprint], params: MatchParams):
        """All hits of all passes: (pass, work key, query time, work time, index row, query
        time in half frames), one per (pass, query anchor time, index row).

        Hashes held by more than ``bucket_cap`` times the mean bucket size (at least
        ``min_bucket_cap``) are skipped: they are the repeated bars of loop-based music and
        the commonest low-frequency pairs, which cost most of the lookups and say least.
        """
        table_h, table_w, table_t = self._table()
        cap = max(params.min_bucket_cap, int(params.bucket_cap * len(table_h) / (1 << 20)))
        cols: list[list[np.ndarray]] = [[], [], [], []]
        for k, fp in enumerate(passes):
            # A hash variant (dt +- 1) can repeat another pair's hash at the same anchor;
            # dropping repeated (hash, anchor) pairs here, on the pass, is what makes the
            # hits unique, and costs far less than sorting the hits (a 60 s query holds
            # ~4k hashes a pass and ~1M hits).
            qf = np.rint(fp.times / FRAME_SECONDS * 2).astype(np.int64)  # half frames: two grids
            _, first = np.unique((fp.hashes.astype(np.int64) << 32) | qf, return_index=True)
            hashes, times, qf = fp.hashes[first], fp.times[first], qf[first]
            lo = np.searchsorted(table_h, hashes, "left")
            hi = np.searchsorted(table_h, hashes, "right")
            counts = hi - lo
            counts[counts > cap] = 0
            total = int(counts.sum())
            if total == 0:
                continue
            qi = np.repeat(np.arange(len(hashes)), counts)
            # Row of each hit: its range's start plus its place within the range.
            rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
            cols[0].append(np.full(total, k, np.int32))
            cols[1].append(times[qi])
            cols[2].append(rows)
            cols[3].append(qf[qi])
        if not cols[0]:
            return None
        k = np.concatenate(cols[0])
        rows = np.concatenate(cols[2])
        q = np.concatenate(cols[1])
        return k, table_w[rows], q.astype(np.float64), table_t[rows].astype(np.float64), rows, np.concatenate(cols[3])

    def match(self, query: AudioQuery, params: MatchParams = MatchParams()) -> dict[int, list[AudioSegment]]:
        """Segments per work key, strongest first (all of them; filter on ``score``)."""
        passes = query.passes
        if not passes or not self._works:
            return {}
        found = self._lookup(passes, params)
        if found is None:
            return {}
        k, work, q, w, rows, qf = found
        table_h = self._table()[0]
        scale = np.array([p.time_scale for p in passes])
        pitch = np.array([p.freq_scale for p in passes])
        offset = w - scale[k] * q

        candidates = _candidates(k, work, offset, params)
        alive = np.ones(len(q), bool)
        # Each work's hits sorted by offset: a line's neighbourhood is one slice.
        order = np.lexsort((offset, work))
        bounds = np.searchsorted(work[order], [c[1] for c in candidates] + [c[1] + 1 for c in candidates])
        by_work = {c[1]: order[bounds[i] : bounds[i + len(candidates)]] for i, c in enumerate(candidates)}
        sorted_offset = {wk: offset[idx] for wk, idx in by_work.items()}
        anchors = np.unique(np.rint(passes[0].times / FRAME_SECONDS).astype(np.int64)) * FRAME_SECONDS
        out: dict[int, list[AudioSegment]] = {}
        for _, wk, kk, members in candidates:
            wk = int(wk)
            members = members[alive[members]]
            if len(np.unique(qf[members])) < params.min_hits:
                continue
            o0 = float(np.median(offset[members]))
            # Hits of this line found by passes within 4% of this time scale have offsets
            # within 4% of the query length of o0.
            reach = 0.04 * passes[0].duration + params.wide
            pool = _window(by_work[wk], sorted_offset[wk], o0, reach)
            pool = pool[alive[pool] & (np.abs(np.log(scale[k[pool]] / scale[kk])) <= 0.04)]
            line = _fit_line(q[pool], w[pool], float(scale[kk]), o0, params)
            if line is None:
                alive[members] = False
                continue
            a, o, on = line
            on = pool[on]
            alive[members] = False
            if len(on):
                # Retire this work's hits on the line within its query span, whichever pass
                # found them: neighbouring passes see the same landmarks.
                near = _window(by_work[wk], sorted_offset[wk], o0, 0.15 * passes[0].duration + params.wide)
                qs, qe = q[on].min() - params.max_gap, q[on].max() + params.max_gap
                dist = np.abs(w[near] - (a * q[near] + o))
                alive[near[(dist <= params.tolerance) & (q[near] >= qs) & (q[near] <= qe)]] = False
            for seg in _segments(q[on], w[on], qf[on], rows[on], table_h[rows[on]], a, o, anchors, params):
                qs, qe, n, density, distinct = seg
                verified, vs, ve = verify_alignment(query.evidence, *self.peaks(wk), a, o, float(pitch[kk]),
                                                    qs - VERIFY_PAD, qe + VERIFY_PAD)  # fmt: skip
                if verified > 0:
                    # Where hits are sparse (an overlay took most pairs), the peaks show
                    # how far the copy really runs.
                    qs, qe = min(qs, vs), max(qe, ve)
                out.setdefault(wk, []).append(
                    AudioSegment(
                        work_key=int(wk),
                        query_start=qs,
                        query_end=qe,
                        work_start=a * qs + o,
                        work_end=a * qe + o,
                        speed=a,
                        score=calibrated_score(distinct, density, verified),
                        hits=n,
                        distinct=distinct,
                        density=density,
                        pitch=float(pitch[kk]),
                        verified=verified,
                    )
                )
        return {key: _distinct(segs) for key, segs in out.items()}

    def search(self, query: AudioQuery, threshold: float = THRESHOLD, params: MatchParams = MatchParams()) -> dict[int, list[AudioSegment]]:
        """``match`` keeping segments scored at least ``threshold``, works without any dropped."""
        matched = self.match(query, params)
        self.last_match = matched  # every segment, for benchmarks and calibration
        kept = {key: [s for s in segs if s.score >= threshold] for key, segs in matched.items()}
        return {key: segs for key, segs in kept.items() if segs}


def _candidates(k, work, offset, params: MatchParams):
    """Vote bins with at least ``min_hits`` votes, fullest first: (votes, work, pass, hit indices)."""
    found = []
    # One sort serves both grids: by (work, pass, half bin), each grid's bins of a (work,
    # pass) follow in order (floor(x) and floor(x + 1/2) are floor(h / 2) and
    # floor((h + 1) / 2) of h = floor(2x)). One int64 key: 1-D sorting is much faster
    # than np.unique(axis=1).
    half = np.floor(offset / (params.bin_width / 2)).astype(np.int64)
    pair = (work.astype(np.int64) << 8) | k.astype(np.int64)
    order = np.argsort((pair << 32) | (half + (1 << 31)), kind="stable")
    pair, half = pair[order], half[order]
    for bins in (half >> 1, (half + 1) >> 1):
        sk = (pair << 32) | (bins + (1 << 31))
        starts = np.r_[0, np.nonzero(np.diff(sk))[0] + 1]
        counts = np.diff(np.r_[starts, len(sk)])
        for c in np.nonzero(counts >= params.min_hits)[0]:
            lo = starts[c]
            found.append((int(counts[c]), int(sk[lo] >> 40), int((sk[lo] >> 32) & 0xFF), order[lo : lo + counts[c]]))
    found.sort(key=lambda f: -f[0])
    return found[: params.max_candidates]


def _window(idx: np.ndarray, offsets: np.ndarray, centre: float, reach: float) -> np.ndarray:
    lo, hi = np.searchsorted(offsets, [centre - reach, centre + reach])
    return idx[lo:hi]


def _distinct(segs: list[AudioSegment]) -> list[AudioSegment]:
    """Strongest first, without segments that repeat a stronger one (same query stretch
    mapped within a second of the same work time: one landmark line seen at two speeds)."""
    kept: list[AudioSegment] = []
    for s in sorted(segs, key=lambda s: (-s.hits, -s.score)):
        dup = False
        for k in kept:
            overlap = min(s.query_end, k.query_end) - max(s.query_start, k.query_start)
            span = max(s.query_end - s.query_start, 1e-3)
            mid = (max(s.query_start, k.query_start) + min(s.query_end, k.query_end)) / 2
            same_place = abs((s.work_start + s.speed * (mid - s.query_start)) - (k.work_start + k.speed * (mid - k.query_start))) < 1.0
            if overlap >= 0.5 * span and same_place:
                dup = True
                break
        if not dup:
            kept.append(s)
    return sorted(kept, key=lambda s: -s.score)


def _fit_line(q, w, a0: float, o0: float, p: MatchParams):
    """(speed, offset, indices on the line) of the line through ``(a0, o0)``'s hits."""
    a, o = a0, o0
    near = np.nonzero(np.abs(w - (a * q + o)) <= p.wide)[0]
    for tol in (p.wide, p.tolerance, p.tolerance):
        near = np.nonzero(np.abs(w - (a * q + o)) <= tol)[0]
        if len(near) < 2:
            return None
        qs, ws = q[near], w[near]
        if qs.max() - qs.min() >= 3.0 and len(near) >= 8:
            qc = qs - qs.mean()
            fitted = float((qc * (ws - ws.mean())).sum() / (qc * qc).sum())
            if abs(np.log(fitted / a0)) <= p.speed_slack:
                a = fitted
        o = float(np.median(ws - a * qs))
    near = np.nonzero(np.abs(w - (a * q + o)) <= p.tolerance)[0]
    return a, o, near


def _segments(q, w, qf, rows, hashes, a, o, anchors, p: MatchParams):
    """Runs of a line's hits split at query gaps > max_gap: (start, end, hits, density,
    distinct hash values)."""
    # One hit per (query anchor time, index row), whichever pass found it.
    _, first = np.unique((rows.astype(np.int64) << 26) | qf, return_index=True)
    qh, hh = q[first], hashes[first]
    q = np.unique(qh)  # sorted distinct anchor times
    # A gap ends the segment when it is long for this line: eight times its median hit
    # spacing, within 1.5 s .. max_gap. Clean copies hit every few hundredths of a second,
    # so 1.5 s without a hit ends them; noisy copies hit sparsely and may bridge more.
    gaps = np.diff(q)
    limit = float(np.clip(8 * np.median(gaps), 1.5, p.max_gap)) if len(gaps) else p.max_gap
    cuts = np.nonzero(gaps > limit)[0] + 1
    out = []
    for run in np.split(q, cuts):
        # A lone hit more than a second beyond the rest is chance landing on the line
        # (the audio after an excerpt), not a stretch where the query still plays the work.
        while len(run) > 2 and run[-1] - run[-2] > 1.0:
            run = run[:-1]
        while len(run) > 2 and run[1] - run[0] > 1.0:
            run = run[1:]
        n = len(np.unique(np.rint(run / FRAME_SECONDS * 2)))
        if n < p.min_segment_hits:
            continue
        qs, qe = float(run[0]), float(run[-1])
        # Density over at least DENSITY_SPAN seconds: a few hits bunched in a fraction of a
        # second (a chance chord) must not read as a dense match.
        pad = max(DENSITY_SPAN - (qe - qs), 0.0) / 2
        inside = int(((anchors >= qs - pad - 1e-6) & (anchors <= qe + pad + 1e-6)).sum())
        distinct = len(np.unique(hh[(qh >= qs) & (qh <= qe)]))
        out.append((qs, qe, n, min(n / max(inside, 1), 1.0), distinct))
    return out


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
