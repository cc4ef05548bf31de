"""Temporal alignment: frame matches of one (query, work) pair -> reused segments.

Frame matches are nodes ``(q_i, w_i, s_i)``: query time, work time, similarity. A reused
segment is a stretch of the query in which work time follows a line

    w = a * q + b        a: speed (0.5 .. 2 for sped-up or slowed copies), b: offset

We find lines by voting, as a Hough transform does: for each speed on a geometric grid,
every node votes with its similarity for the offset ``w - a q`` (1-second bins, each query
instant voting at most once per bin). The heaviest (speed, offset) wins; its nodes within
``tolerance`` of the line are split where the query has gaps longer than ``max_gap``, and
the heaviest run is a segment. The line is then refined by least squares on its nodes,
the segment's query interval is cleared of nodes, and the vote repeats. Cuts, re-ordering
and one work reused in several places thereby each give their own segment.

A chaining dynamic programme (the temporal network of VCSL) was tried first: with a
per-step speed window it bridged adjacent shots of one work through weak matches, and
reported the trailer's intro and the next shot as one segment at speed 1.44.

Inside this module nodes travel as parallel arrays ``(q, w, s)`` and helpers return short
tuples of them (a run's nodes and speed, a refit's speed and offset, an extended chain's
arrays): the formulas read them as the symbols above, and only ``Chain`` leaves the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .records import Chain, PairMatches


@dataclass(frozen=True)
class AlignParams:
    min_speed: float = 0.45
    max_speed: float = 2.2
    speed_steps: int = 29  # geometric grid, ~5.5% apart: <= 0.4 s drift over a 30 s segment
    bin_width: float = 1.0  # offset bin, seconds
    tolerance: float = 0.75  # work seconds a node may sit off its line (sampling grid)
    max_gap: float = 4.0  # query seconds a segment may bridge without a match (fades, titles)
    min_nodes: int = 2
    max_segments: int = 200
    margin: float = 0.1  # a node must be this close to its query instant's best similarity
    absorb_frames: int = 4  # a chain this short, beside a long one of the same shot, joins it
    absorb_window: float = 10.0  # work seconds: how far "the same shot" reaches
    extend_margin: float = 0.2  # a line may continue through instants this close to their best
    speed_prior: float = 0.3  # vote weight lost per octave of speed away from 1 (see _vote)


def _speeds(p: AlignParams) -> np.ndarray:
    grid = np.geomspace(p.min_speed, p.max_speed, p.speed_steps)
    return np.unique(np.r_[grid, 1.0])  # speed 1 exactly: the common case should not drift


@dataclass(frozen=True)
class Line:
    """A voted line w = speed q + offset and the vote it collected."""

    weight: float
    speed: float
    offset: float


def _vote(q: np.ndarray, w: np.ndarray, s: np.ndarray, speeds: np.ndarray, p: AlignParams) -> Line:
    """The heaviest line."""
    best = Line(0.0, 1.0, 0.0)
    qi = np.unique(q, return_inverse=True)[1]
    for a in speeds:
        # Static shots fit many speeds equally well; the prior for native speed breaks
        # such ties without hiding a real speed change, whose nodes spread over several
        # offset bins at the wrong speed. At 0.05 per octave a static screen recording
        # still came out at speed 0.45 over 31 s; 0.15, 0.3 and 0.5 took the full set's
        # crop recall from 0.89 to 0.94, 0.95, 0.95, speed edits unharmed (0.96-0.97).
        prior = 1.0 - p.speed_prior * abs(np.log2(a))
        offsets = w - a * q
        for shift in (0.0, 0.5):
            bins = np.floor(offsets / p.bin_width + shift).astype(np.int64)
            # One vote per (query instant, bin): the best similarity.
            keys = bins * (qi.max() + 1) + qi
            order = np.lexsort((-s, keys))
            first = np.ones(len(order), bool)
            first[1:] = keys[order][1:] != keys[order][:-1]
            chosen = order[first]
            uniq, inv = np.unique(bins[chosen], return_inverse=True)
            weight = np.bincount(inv, weights=s[chosen]) * prior
            top = int(weight.argmax())
            if weight[top] > best.weight:
                centre = (uniq[top] + 0.5 - shift) * p.bin_width
                best = Line(float(weight[top]), float(a), float(centre))
    return best


def _runs(line_q: np.ndarray, all_q: np.ndarray, max_gap: float) -> list[np.ndarray]:
    """Split the sorted query times of a line's nodes into runs.

    A run breaks where the query goes ``max_gap`` seconds without a match on the line, or
    where, in between, the query matches this work somewhere off the line: it then shows
    other footage, and a static shot that happens to fit the line must not glue two shots
    together.
    """
    off_line = np.setdiff1d(np.unique(all_q), line_q)
    between = np.searchsorted(off_line, line_q[1:], side="left") - np.searchsorted(off_line, line_q[:-1], side="right")
    cuts = np.nonzero((np.diff(line_q) > max_gap) | (between > 0))[0] + 1
    return np.split(np.arange(len(line_q)), cuts)


def _on_line(q, w, s, speed, offset, tol):
    near = np.abs(w - (speed * q + offset)) <= tol
    idx = np.nonzero(near)[0]
    # One node per query instant: its most similar one.
    order = idx[np.lexsort((-s[idx], q[idx]))]
    first = np.ones(len(order), bool)
    first[1:] = q[order][1:] != q[order][:-1]
    return order[first]


def _strongest_run(q, w, s, speeds, params) -> tuple[np.ndarray, float]:
    """Nodes (in query order) of the heaviest run on the heaviest line, and its speed."""
    line = _vote(q, w, s, speeds, params)
    speed, offset = line.speed, line.offset
    members = _on_line(q, w, s, speed, offset, params.tolerance)
    if len(members) == 0:
        return members, speed
    # Re-centre on the members' median offset: the bin centre is up to half a bin off.
    offset = float(np.median(w[members] - speed * q[members]))
    members = _on_line(q, w, s, speed, offset, params.tolerance)
    members = members[np.argsort(q[members])]
    runs = _runs(q[members], q, params.max_gap)
    run = max(runs, key=lambda r: s[members[r]].sum())
    return members[run], speed


def _refine(q: np.ndarray, w: np.ndarray, speed: float, p: AlignParams) -> tuple[float, float]:
    if len(q) >= 4 and q[-1] - q[0] >= 2.0:
        qc = q - q.mean()
        fitted = float((qc * (w - w.mean())).sum() / (qc * qc).sum())
        # Trust the fit only near the voted speed; far off, static footage misleads it.
        if fitted > 0 and abs(np.log(fitted / speed)) < 0.06:
            speed = fitted
    offset = float(np.median(w - speed * q))
    return speed, offset


def _vote_weights(q: np.ndarray, s: np.ndarray, margin: float) -> np.ndarray:
    """Each node's vote: its similarity, less four times its shortfall from the best
    similarity at its query instant; nodes more than ``margin`` short get none.

    A query frame shows one moment of the work. Where it matches one work frame at 0.94
    and a look-alike (same set, slow camera) at 0.90, both stay candidates, but the
    look-alike must not pull the line: in slow footage lines of several speeds pass
    through such look-alikes.
    """
    uniq, inv = np.unique(q, return_inverse=True)
    best = np.full(len(uniq), -np.inf)
    np.maximum.at(best, inv, s)
    shortfall = best[inv] - s
    return np.where(shortfall <= margin, np.maximum(s - 4.0 * shortfall, 0.0), 0.0)


def align(pair: PairMatches, params: AlignParams = AlignParams()) -> list[Chain]:
    """All segments with at least ``min_nodes`` matched query instants, strongest first."""
    votes = _vote_weights(pair.query_times, pair.scores, params.margin)
    keep = votes > 0
    q, w, s, sim = pair.query_times[keep], pair.work_times[keep], votes[keep], pair.scores[keep]
    speeds = _speeds(params)
    chains: list[Chain] = []
    rounds = 4 * params.max_segments
    while len(q) >= params.min_nodes and len(chains) < params.max_segments and rounds > 0:
        rounds -= 1
        nodes, speed = _strongest_run(q, w, s, speeds, params)
        if len(nodes) >= params.min_nodes:
            # The global vote can pick a line that collects stray nodes far apart in the
            # query; vote again within the run's stretch for that stretch's own line.
            lo, hi = q[nodes[0]] - params.max_gap, q[nodes[-1]] + params.max_gap
            near = np.nonzero((q >= lo) & (q <= hi))[0]
            local, speed = _strongest_run(q[near], w[near], s[near], speeds, params)
            if len(local) >= params.min_nodes:
                nodes = near[local]
        if len(nodes) < params.min_nodes:
            # A lone match outweighs every line left; drop it and vote again.
            keep = np.ones(len(q), bool)
            keep[nodes] = False
            q, w, s, sim = q[keep], w[keep], s[keep], sim[keep]
            continue
        speed, offset = _refine(q[nodes], w[nodes], speed, params)
        cq, cw, cs = _extend(q[nodes], w[nodes], sim[nodes], speed, offset, pair, params, chains)
        chains.append(Chain(cq, cw, cs, speed, offset))
        lo, hi = cq[0], cq[-1]
        keep = (q < lo) | (q > hi)
        q, w, s, sim = q[keep], w[keep], s[keep], sim[keep]
    chains = _merge_neighbours(chains, params)
    chains.sort(key=lambda c: -float(c.scores.sum()))
    return chains


def _extend(q, w, s, speed, offset, pair: PairMatches, params: AlignParams, taken: list[Chain]):
    """Continue a segment's line through neighbouring query instants whose matches are
    ambiguous rather than contrary.

    In low-detail stretches (an empty road, a plain wall) a query frame matches many work
    moments almost equally, and the one on the line may not be the best; the vote ignores
    such frames. Here the line takes an instant when one of its matches lies on the line
    within ``extend_margin`` of the instant's best similarity; it stops at an instant whose
    matches all lie elsewhere, or after ``max_gap`` seconds of instants without matches,
    and never enters the query stretch of a segment found before (``taken``).
    """
    all_q, all_w, all_s = pair.query_times, pair.work_times, pair.scores
    instants, inv = np.unique(all_q, return_inverse=True)
    best = np.full(len(instants), -np.inf)
    np.maximum.at(best, inv, all_s)
    on_line = (np.abs(all_w - (speed * all_q + offset)) <= params.tolerance) & (all_s >= best[inv] - params.extend_margin)
    added_q, added_w, added_s = [], [], []
    for direction in (1, -1):
        edge = q[-1] if direction == 1 else q[0]
        order = instants[instants > edge] if direction == 1 else instants[instants < edge][::-1]
        last = edge
        for t in order:
            if abs(t - last) > params.max_gap or any(c.query_times[0] <= t <= c.query_times[-1] for c in taken):
                break
            here = np.nonzero((all_q == t) & on_line)[0]
            if len(here) == 0:
                break  # the query shows something else of this work here
            i = here[np.argmax(all_s[here])]
            added_q.append(t)
            added_w.append(all_w[i])
            added_s.append(all_s[i])
            last = t
    if not added_q:
        return q, w, s
    q2, w2, s2 = np.r_[q, added_q], np.r_[w, added_w], np.r_[s, added_s]
    order = np.argsort(q2, kind="stable")
    return q2[order], w2[order], s2[order]


def _frames(chain: Chain) -> int:
    return len(np.unique(chain.query_times))


def _join(keep: Chain, other: Chain, other_w: np.ndarray, params: AlignParams, refit: bool) -> Chain:
    q = np.r_[keep.query_times, other.query_times]
    w = np.r_[keep.work_times, other_w]
    s = np.r_[keep.scores, other.scores]
    order = np.argsort(q, kind="stable")
    q, w, s = q[order], w[order], s[order]
    speed, offset = _refine(q, w, keep.speed, params) if refit else (keep.speed, keep.offset)
    return Chain(q, w, s, speed, offset)


def _merge_neighbours(chains: list[Chain], params: AlignParams) -> list[Chain]:
    """Join neighbouring chains (query gap <= max_gap) that belong together.

    * Two chains whose lines meet at the junction (within twice the tolerance, at speeds
      within 15%, unless one spans under 4 s) are one segment that off-line frames split.
    * A short chain (<= ``absorb_frames``) beside a chain at least twice as long, whose
      work times lie within ``absorb_window`` of the long line, is the same shot matched
      at the wrong moment (static shots make moments alike); the long line explains it.
    """
    chains = sorted(chains, key=lambda c: c.query_times[0])
    joined = True
    while joined:
        joined = False
        for i in range(len(chains) - 1):
            a, b = chains[i], chains[i + 1]
            if b.query_times[0] - a.query_times[-1] > params.max_gap:
                continue
            junction = (a.query_times[-1] + b.query_times[0]) / 2
            meet = abs((a.speed - b.speed) * junction + a.offset - b.offset) <= 2 * params.tolerance
            # A chain of a few seconds cannot tell its speed apart from its neighbour's.
            agree = abs(np.log(a.speed / b.speed)) < 0.15 or min(a.query_span, b.query_span) < 4.0
            if meet and agree:
                keep, other = (a, b) if _frames(a) >= _frames(b) else (b, a)
                chains[i : i + 2] = [_join(keep, other, other.work_times, params, refit=True)]
                joined = True
                break
            short, long_ = (a, b) if _frames(a) < _frames(b) else (b, a)
            mid_q = float(short.query_times.mean())
            near = abs(float(short.work_times.mean()) - (long_.speed * mid_q + long_.offset)) <= params.absorb_window
            if _frames(short) <= params.absorb_frames and _frames(long_) >= 2 * _frames(short) and near:
                predicted = long_.speed * short.query_times + long_.offset
                chains[i : i + 2] = [_join(long_, short, predicted, params, refit=False)]
                joined = True
                break
    return chains
