"""Audio matching: a query's landmark hits in the index -> aligned, verified segments.

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
3. verify each segment (``verify.verify_alignment``): read the work's peaks, mapped through the
   line, from the query's evidence map; a stretch where the query really plays the work
   holds far more of them than chance, even where an overlay or noise took the landmark
   pairs away. The window read is the run's span +- ``pad``, widened while the verified
   stretch reaches its edge (``_verify_run``): the peaks show how far the copy runs; and
   read the work's spectral-shape codes along the line (``codes.read_along``): the shape
   of the whole spectrum, where an overlay left too few peaks;
4. score each segment (``calibrated_score``) and retire its hits;
5. peak votes (``_peak_vote_segments``), for short queries: single peaks vote for
   (work, offset) at native speed, and the fullest bins the pairs did not find are
   verified and scored like the rest; an overlay that takes most pairs leaves many
   single peaks;
6. explain away (``_explain_away``): where a weaker work's segment lies on a stronger
   claimed work's query stretch, it is rescored on the evidence the stronger work does not
   already explain, unless both hold the same recording there.

A hit is one (query anchor time, index row) pair, whichever pass and hash variant found
it, so the same landmark never counts twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .codes import read_along
from .config import AudioConfig, MatchParams
from .index import AudioIndex, peak_vote_pad
from .records import AudioQuery, AudioSegment
from .score import calibrated_score
from .verify import verify_alignment, work_cells


@dataclass(frozen=True)
class VoteBin:
    """One offset bin of one work and pass, and the hits that voted for it."""

    votes: int
    work_key: int
    pass_index: int
    hits: np.ndarray  # indices into the query's Hits


@dataclass(frozen=True)
class HitTable:
    """A query's hits sorted once by (work, pass, half a vote bin of offset).

    A vote bin is one run of this order, and the hits of one work and pass within an
    offset range are one run too, found by bisection: a line's neighbourhood costs a few
    ``searchsorted`` calls instead of a second sort of every hit by (work, offset), which
    took 0.26 s of a 60 s query's 1 s against the full audio bench's library (5 h, ~1M hits).
    """

    order: np.ndarray  # hit indices, in key order
    key: np.ndarray  # (work << 40) | (pass << 32) | (half bin + 2**31), sorted; work keys < 2**23
    half_width: float  # seconds of offset per half bin

    @classmethod
    def of(cls, k: np.ndarray, work: np.ndarray, offset: np.ndarray, params: MatchParams) -> HitTable:
        half_width = params.bin_width / 2
        half = np.floor(offset / half_width).astype(np.int64)
        key = (((work.astype(np.int64) << 8) | k.astype(np.int64)) << 32) | (half + (1 << 31))
        # Not stable, and 4x faster (numpy's SIMD sort): nothing downstream depends on the
        # order of hits within one half bin (a bin's hits are a set; ``near`` sorts its own).
        order = np.argsort(key)
        return cls(order, key[order], half_width)

    def fullest(self, params: MatchParams) -> list[VoteBin]:
        """Vote bins with at least ``min_hits`` votes, fullest first (at most ``max_candidates``).

        Both grids come from the one order: a bin of either grid is two neighbouring half
        bins (floor(x) and floor(x + 1/2) are floor(h / 2) and floor((h + 1) / 2) of
        h = floor(2x)), so it is one run of the sorted keys, and its runs are where
        ``key >> 1`` (``(key + 1) >> 1``) changes: the work and pass bits sit above the
        half bin's 32, so they shift along without mixing."""
        runs = []
        for grid in (self.key >> 1, (self.key + 1) >> 1):
            starts = np.flatnonzero(np.r_[True, grid[1:] != grid[:-1]])
            counts = np.diff(np.r_[starts, len(grid)])
            full = counts >= params.min_hits
            runs.append((counts[full], starts[full]))
        counts, starts = (np.concatenate(parts) for parts in zip(*runs))
        keys = self.key[starts]
        # Stable: ties keep grid order, then key order.
        top = np.argsort(-counts, kind="stable")[: params.max_candidates]
        return [VoteBin(int(counts[i]), int(keys[i] >> 40), int((keys[i] >> 32) & 0xFF), self.order[starts[i] : starts[i] + counts[i]])
                for i in top]  # fmt: skip

    def near(self, work_key: int, passes: np.ndarray, offset: np.ndarray, centre: float, reach: float,
             ordered: bool = True) -> np.ndarray:  # fmt: skip
        """Hits of ``work_key`` found by ``passes`` whose offset lies in ``[centre - reach,
        centre + reach)``, ordered by (offset, hit index) (a line fitted to them sums in
        that order) unless ``ordered`` is False."""
        lo_half, hi_half = np.floor(np.array([centre - reach, centre + reach]) / self.half_width).astype(np.int64)
        base = ((np.int64(work_key) << 8) | passes.astype(np.int64)) << 32
        lo = np.searchsorted(self.key, base | (lo_half + (1 << 31)), "left")
        hi = np.searchsorted(self.key, base | (hi_half + (1 << 31)), "right")
        idx = np.concatenate([self.order[a:b] for a, b in zip(lo, hi)]) if len(lo) else np.zeros(0, np.int64)
        o = offset[idx]
        keep = (o >= centre - reach) & (o < centre + reach)
        idx, o = idx[keep], o[keep]
        return idx[np.lexsort((idx, o))] if ordered else idx


@dataclass(frozen=True)
class Line:
    """``w = speed * q + offset`` fitted through a vote bin's hits, and the hits on it."""

    speed: float
    offset: float
    on: np.ndarray  # indices into the hits the line was fitted to


@dataclass(frozen=True)
class HitRun:
    """A run of one line's hits between query gaps: a segment before verification."""

    query_start: float
    query_end: float
    hits: int  # distinct query anchor times (half frames)
    density: float  # hits per query anchor time in the span (at least density_span s)
    distinct: int  # distinct hash values among the hits


def match(index: AudioIndex, query: AudioQuery, config: AudioConfig = AudioConfig()) -> dict[int, list[AudioSegment]]:
    """Segments per work key, strongest first (all of them; filter on ``score``)."""
    params = config.match
    frame_seconds = config.spectrum.frame_seconds
    passes = query.passes
    if not passes or not index.work_keys:
        return {}
    if query.evidence is None:
        raise ValueError("the query has no evidence map (rebuilt from a dict?): it cannot be verified")
    found = index.lookup(passes, params)
    if found is None:
        return {}
    k, work, q, w, rows, qf = found.pass_index, found.work_key, found.query_time, found.work_time, found.row, found.half_frame
    table_h = index.table()[0]
    scale = np.array([p.time_scale for p in passes])
    pitch = np.array([p.freq_scale for p in passes])
    offset = w - scale[k] * q

    table = HitTable.of(k, work, offset, params)
    candidates = table.fullest(params)
    alive = np.ones(len(q), bool)
    every_pass = np.arange(len(passes))
    # Per pass, the passes within 4% of its time scale: they see the same line's landmarks.
    neighbours = [np.nonzero(np.abs(np.log(scale / a)) <= 0.04)[0] for a in scale]
    anchors = np.unique(np.rint(passes[0].times / frame_seconds).astype(np.int64)) * frame_seconds
    out: dict[int, list[AudioSegment]] = {}
    for candidate in candidates:
        wk, kk = int(candidate.work_key), candidate.pass_index
        members = candidate.hits[alive[candidate.hits]]
        if len(np.unique(qf[members])) < params.min_hits:
            continue
        o0 = float(np.median(offset[members]))
        # Hits of this line found by passes within 4% of this time scale have offsets
        # within 4% of the query length of o0.
        reach = 0.04 * passes[0].duration + params.wide
        pool = table.near(wk, neighbours[kk], offset, o0, reach)
        pool = pool[alive[pool]]
        line = _fit_line(q[pool], w[pool], float(scale[kk]), o0, params)
        if line is None:
            alive[members] = False
            continue
        a, o = line.speed, line.offset
        on = pool[line.on]
        alive[members] = False
        if len(on):
            # Retire this work's hits on the line within its query span, whichever pass
            # found them: neighbouring passes see the same landmarks.
            near = table.near(wk, every_pass, offset, o0, 0.15 * passes[0].duration + params.wide, ordered=False)
            qs, qe = q[on].min() - params.max_gap, q[on].max() + params.max_gap
            dist = np.abs(w[near] - (a * q[near] + o))
            alive[near[(dist <= params.tolerance) & (q[near] >= qs) & (q[near] <= qe)]] = False
        for run in _segments(q[on], w[on], qf[on], rows[on], table_h[rows[on]], a, o, anchors, params, frame_seconds):
            qs, qe = run.query_start, run.query_end
            found_peaks = _verify_run(query, index.peaks(wk), a, o, float(pitch[kk]), qs, qe, config)
            verified = found_peaks.verified
            if verified > 0:
                # Where hits are sparse (an overlay took most pairs), the peaks show
                # how far the copy really runs.
                qs, qe = min(qs, found_peaks.query_start), max(qe, found_peaks.query_end)
            spectral = _read_codes(index, query, wk, a, o, float(pitch[kk]), qs, qe, config)
            out.setdefault(wk, []).append(
                AudioSegment(
                    work_key=int(wk),
                    query_start=qs,
                    query_end=qe,
                    work_start=a * qs + o,
                    work_end=a * qe + o,
                    speed=a,
                    score=calibrated_score(run.distinct, run.density, verified, config.score, spectral),
                    hits=run.hits,
                    distinct=run.distinct,
                    density=run.density,
                    pitch=float(pitch[kk]),
                    verified=verified,
                    spectral=spectral,
                )
            )
    found = {key: _distinct(segs) for key, segs in out.items()}
    if params.peak_votes and query.peaks is not None:
        for seg in _peak_vote_segments(index, query, found, config):
            found.setdefault(seg.work_key, []).append(seg)
    return _explain_away(found, query, index, config)


def _verify_run(query: AudioQuery, peaks: tuple[np.ndarray, np.ndarray], speed: float, offset: float, pitch: float,
                qs: float, qe: float, config: AudioConfig):  # fmt: skip
    """``verify_alignment`` over a run's query span +- ``pad``, widened while the verified
    stretch reaches the window's edge (at most ``follow`` times)."""
    vp = config.verify
    lo, hi = qs - vp.pad, qe + vp.pad
    found = verify_alignment(query.evidence, *peaks, speed, offset, pitch, lo, hi, config)
    for _ in range(vp.follow):
        if found.verified <= 0:
            break
        grow_lo = lo > 0 and found.query_start <= lo + vp.edge
        grow_hi = hi < query.duration and found.query_end >= hi - vp.edge
        if not (grow_lo or grow_hi):
            break
        lo = min(lo, found.query_start - vp.pad) if grow_lo else lo
        hi = max(hi, found.query_end + vp.pad) if grow_hi else hi
        found = verify_alignment(query.evidence, *peaks, speed, offset, pitch, lo, hi, config)
    return found


def _read_codes(index: AudioIndex, query: AudioQuery, work_key: int, speed: float, offset: float, pitch: float,
                qs: float, qe: float, config: AudioConfig) -> float:  # fmt: skip
    """``codes.read_along`` over a segment's query stretch +- ``VerifyParams.pad`` (an
    overlay leaves the copy running past the hits, as ``_verify_run`` finds)."""
    pad = config.verify.pad
    return read_along(query.evidence, index.codes(work_key), speed, offset, pitch, max(qs - pad, 0.0),
                      min(qe + pad, query.duration), config)  # fmt: skip


def _peak_vote_segments(index: AudioIndex, query: AudioQuery, found: dict[int, list[AudioSegment]],
                        config: AudioConfig) -> list[AudioSegment]:  # fmt: skip
    """Segments from single-peak votes, at native speed, that the pairs missed.

    Every dense query peak ``(t, f)`` votes for ``o = t_w - t`` with every work peak of
    the same frequency step (``AudioIndex.peak_table``), once per (work, offset bin of
    ``peak_vote_bin`` frames; two grids half a bin apart). A single peak is weak evidence,
    so the fullest bins are only candidates: each is verified along its line over the
    whole query (``verify_alignment``) and scored by the same calibration as a pair
    segment with no pair evidence (``distinct`` 1, ``density`` 0): the verification alone
    must carry it (``AudioScoreModel.verified_alone`` for 0.5, where the strongest of the
    full bench's 300,029 chance segments reaches 18.9). A candidate within half a second of
    a segment the pairs found for its work adds nothing and is skipped.
    """
    mp, fs = config.match, config.spectrum.frame_seconds
    steps, frames, first, owner = index.peak_table()
    peaks = query.peaks
    if not len(steps) or peaks is None or not len(peaks.t):
        return []
    q_steps = (peaks.f // config.landmarks.q).astype(np.int64)
    lo, hi = np.searchsorted(steps, q_steps, "left"), np.searchsorted(steps, q_steps, "right")
    n = hi - lo
    if not n.sum():
        return []
    which = np.repeat(np.arange(len(q_steps)), n)
    rows = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(n.sum())
    pad = peak_vote_pad(config)
    # Offsets in frames, shifted by pad so that they are >= 0 for any query that votes. Two
    # peaks of one step are never within a bin of each other on either side (a peak is
    # the maximum of +-8 frames), so a query peak votes at most once per bin.
    offset = frames[rows] - peaks.t[which] + pad
    candidates: dict[tuple[int, int], tuple[int, float]] = {}
    for shift in (0.0, mp.peak_vote_bin / 2):
        votes = np.bincount(first[rows].astype(np.int64) + np.floor((offset + shift) / mp.peak_vote_bin).astype(np.int64),
                            minlength=len(owner))  # fmt: skip
        top = np.argpartition(-votes, min(mp.peak_vote_candidates, len(votes) - 1))[: mp.peak_vote_candidates]
        for cell in top[np.argsort(-votes[top], kind="stable")]:
            wk = int(owner[cell])
            local = int(cell - np.searchsorted(owner, wk, "left"))
            centre = ((local + 0.5) * mp.peak_vote_bin - shift - pad) * fs
            slot = (wk, round(centre / 0.2))
            if slot not in candidates or candidates[slot][0] < votes[cell]:
                candidates[slot] = (int(votes[cell]), centre)
    out = []
    for (wk, _), (votes, o) in sorted(candidates.items(), key=lambda kv: -kv[1][0])[: mp.peak_vote_candidates]:
        if any(abs(s.speed - 1.0) < 0.02 and abs(_offset(s) - o) < 0.5 for s in found.get(wk, [])):
            continue
        if any(s.work_key == wk and abs(_offset(s) - o) < 0.5 for s in out):
            continue
        v = verify_alignment(query.evidence, *index.peaks(wk), 1.0, o, 1.0, 0.0, query.duration, config)
        if v.verified <= 0:
            continue
        spectral = _read_codes(index, query, wk, 1.0, o, 1.0, v.query_start, v.query_end, config)
        out.append(AudioSegment(work_key=wk, query_start=v.query_start, query_end=v.query_end, work_start=v.query_start + o,
                                work_end=v.query_end + o, speed=1.0, score=calibrated_score(1, 0.0, v.verified, config.score, spectral),
                                hits=votes, verified=v.verified, spectral=spectral))  # fmt: skip
    return out


def _explain_away(found: dict[int, list[AudioSegment]], query: AudioQuery, index: AudioIndex,
                  config: AudioConfig) -> dict[int, list[AudioSegment]]:  # fmt: skip
    """Segments rescored where a stronger work already explains the query (issue 16).

    Tracks of one catalogue (one composer, one game's soundtrack) share instruments, keys
    and tempo: where the query plays track A, track B's peaks land on some of A's notes at
    some alignment, and a few seconds of that verify as well as a real copy under noise
    (measured: 23.0 and 15.0, scores 1.0, on a catalogue of 162 tracks). Such a segment
    is not evidence of B. Segments are taken strongest ``verified`` first; one that
    overlaps in query time the claimed (score >= threshold) segment of another work ``A``
    is verified again with A's peaks' cells set aside (``verify_alignment(exclude=...)``)
    and rescored on that (``explained_by`` = A); where what is left is at chance
    (``explained_min_verified``), its landmark pairs do not count either. Two exceptions:

    - B's own evidence is at least ``share_ratio`` of A's on the same stretch: the two
      works hold the same recording there (a medley's passage, a reused sting), and B is
      reported as it is, ``shared_with`` = A;
    - a real mix of two registered works keeps most of its evidence: only the peaks that
      coincide with A's are set aside (measured on 60 mixes of two tracks of one catalogue,
      one lost of 90 co-present pairs: a track 6 dB under another).
    """
    vp = config.verify
    segments = sorted((s for segs in found.values() for s in segs), key=lambda s: -s.verified)
    claimed: list[AudioSegment] = []
    out: dict[int, list[AudioSegment]] = {}
    for seg in segments:
        lo, hi = seg.query_start - vp.pad, seg.query_end + vp.pad
        over = [a for a in claimed if a.work_key != seg.work_key and a.query_start < seg.query_end and seg.query_start < a.query_end]
        if over and vp.explain:
            theirs = [(verify_alignment(query.evidence, *index.peaks(a.work_key), a.speed, _offset(a), a.pitch, lo, hi, config).verified, a)
                      for a in over]  # fmt: skip
            best_verified, best = max(theirs, key=lambda x: x[0])
            cells = np.unique(np.concatenate([work_cells(*index.peaks(a.work_key), a.speed, _offset(a), a.pitch, lo, hi, config)
                                              for a in over]))  # fmt: skip
            if seg.verified >= vp.share_ratio * best_verified:
                seg = replace(_to_shared_stretch(seg, query, index, cells, lo, hi, config), shared_with=best.work_key)
            else:
                alone = verify_alignment(query.evidence, *index.peaks(seg.work_key), seg.speed, _offset(seg), seg.pitch, lo, hi,
                                         config, exclude=cells).verified  # fmt: skip
                verified = min(seg.verified, alone)
                # What is left at chance: the pairs are on the stronger work's notes too.
                own = verified >= vp.explained_min_verified
                # The codes read the whole spectrum, the stronger work's notes included, and
                # cannot set them aside as the peaks do: they count only where the work's
                # own peaks do (a real mix of two registered works), as its pairs do.
                spectral = seg.spectral if own else 0.0
                score = calibrated_score(seg.distinct if own else 1, seg.density if own else 0.0, verified, config.score,
                                         spectral)  # fmt: skip
                seg = replace(seg, verified=verified, explained_by=best.work_key, score=score, spectral=spectral)
        if seg.score >= config.threshold:
            claimed.append(seg)
        out.setdefault(seg.work_key, []).append(seg)
    return {key: sorted(segs, key=lambda s: -s.score) for key, segs in out.items()}


def _to_shared_stretch(seg: AudioSegment, query: AudioQuery, index: AudioIndex, cells: np.ndarray, lo: float, hi: float,
                       config: AudioConfig) -> AudioSegment:  # fmt: skip
    """A segment said to share a stronger work's recording, cut to where its peaks are
    that work's (``verify_alignment(within=...)``): its hits and its own peaks run on by
    chance beyond the shared passage, the more so where both works go on in one voice.
    Measured on one podcast's episodes (scripts/podcast_study.py), 10 s from the jingle
    every episode opens with into one episode's host: the other episodes' segments ended
    up to 2 s into their own speech, in 11 of 32 queries.

    Cut only where that is most of its evidence (``share_ratio``): "shared" is decided on
    the two works' amounts of evidence alone, and two different registered works mixed at
    one loudness pass it with almost none of their peaks in common; cut to those, a true
    claim shrank to 30-100 ms (a review's mixes, 3 of 18)."""
    o = _offset(seg)
    shared = verify_alignment(query.evidence, *index.peaks(seg.work_key), seg.speed, o, seg.pitch, lo, hi, config, within=cells)
    qs, qe = max(seg.query_start, shared.query_start), min(seg.query_end, shared.query_end)
    if shared.verified < config.verify.share_ratio * seg.verified or qe <= qs:
        return seg
    return replace(seg, query_start=qs, query_end=qe, work_start=seg.speed * qs + o, work_end=seg.speed * qe + o)


def _offset(seg: AudioSegment) -> float:
    """The line's offset: work time = speed * query time + offset."""
    return seg.work_start - seg.speed * seg.query_start


def search(index: AudioIndex, query: AudioQuery, config: AudioConfig = AudioConfig()) -> dict[int, list[AudioSegment]]:
    """``match`` keeping segments scored at least ``config.threshold``, works without any dropped."""
    matched = match(index, query, config)
    kept = {key: [s for s in segs if s.score >= config.threshold] for key, segs in matched.items()}
    return {key: segs for key, segs in kept.items() if segs}


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


def _fit_line(q, w, a0: float, o0: float, p: MatchParams) -> Line | None:
    """The line through ``(a0, o0)``'s hits, refitted; None when too few hits lie near it."""
    a, o = a0, o0
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
    return Line(a, o, near)


def _segments(q, w, qf, rows, hashes, a, o, anchors, p: MatchParams, frame_seconds: float) -> list[HitRun]:
    """Runs of a line's hits split at query gaps > max_gap."""
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
        n = len(np.unique(np.rint(run / frame_seconds * 2)))
        if n < p.min_segment_hits:
            continue
        qs, qe = float(run[0]), float(run[-1])
        # Density over at least density_span seconds: a few hits bunched in a fraction of
        # a second (a chance chord) must not read as a dense match.
        pad = max(p.density_span - (qe - qs), 0.0) / 2
        inside = int(((anchors >= qs - pad - 1e-6) & (anchors <= qe + pad + 1e-6)).sum())
        distinct = len(np.unique(hh[(qh >= qs) & (qh <= qe)]))
        out.append(HitRun(qs, qe, n, min(n / max(inside, 1), 1.0), distinct))
    return out
