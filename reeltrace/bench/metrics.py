"""Accuracy metrics for copy localisation (used by ``reeltrace bench``).

A *match* is a box in (query time x work time) for one (query, work) pair: a true one from
the ground truth, or a predicted one with a score.

Segment micro-AP (uAP), as in the matching track of Meta's Video Similarity Challenge 2022
(after VCSL): predictions of all queries are ranked by score, most confident first. After
each group of equal score, on each axis a in {query, work},

    P_a = |union of predicted intervals  ^  union of true intervals| / |union of predicted intervals|
    R_a = |union of predicted intervals  ^  union of true intervals| / |union of true intervals|

summed over all (query, work) pairs, where a pair's true intervals only count towards the
intersection once some prediction overlaps them as a box. Then P = sqrt(P_q P_w),
R = sqrt(R_q R_w) and

    uAP = sum_i P(i) (R(i) - R(i-1)).

Segment precision/recall/F1 at a threshold: the same P and R for the predictions whose
score is at least the threshold (VCSL's overlap measure on both axes).

Video level: average precision of (query, work) pairs scored by their best segment, and
the number of works reported for negative queries.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..intervals import union_length


@dataclass(frozen=True)
class Box:
    """A reused segment: query [q0, q1] shows work [w0, w1]."""

    query: str
    work: str
    q0: float
    q1: float
    w0: float
    w1: float
    score: float = 1.0

    def overlaps(self, other: Box) -> bool:
        return min(self.q1, other.q1) > max(self.q0, other.q0) and min(self.w1, other.w1) > max(self.w0, other.w0)


def intersection_length(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """|union(a) ^ union(b)| = |A| + |B| - |A u B|."""
    return union_length(a) + union_length(b) - union_length(list(a) + list(b))


@dataclass
class _Pair:
    truths: list[Box] = field(default_factory=list)
    preds: list[Box] = field(default_factory=list)

    def lengths(self) -> dict[str, tuple[float, float]]:
        """Per axis: (intersection with overlapped truths, predicted length)."""
        hit = [t for t in self.truths if any(t.overlaps(p) for p in self.preds)]
        out = {}
        for axis in ("q", "w"):
            pred = [(getattr(p, axis + "0"), getattr(p, axis + "1")) for p in self.preds]
            true = [(getattr(t, axis + "0"), getattr(t, axis + "1")) for t in hit]
            out[axis] = (intersection_length(pred, true), union_length(pred))
        return out


@dataclass(frozen=True)
class PRPoint:
    score: float
    precision: float
    recall: float


def _totals(truths: Sequence[Box]) -> tuple[dict, dict[str, float]]:
    pairs: dict[tuple[str, str], _Pair] = defaultdict(_Pair)
    for t in truths:
        pairs[(t.query, t.work)].truths.append(t)
    total = {"q": 0.0, "w": 0.0}
    for pair in pairs.values():
        total["q"] += union_length((t.q0, t.q1) for t in pair.truths)
        total["w"] += union_length((t.w0, t.w1) for t in pair.truths)
    return pairs, total


def segment_pr_curve(truths: Sequence[Box], predictions: Sequence[Box]) -> list[PRPoint]:
    """Precision and recall after each score level, most confident first."""
    pairs, total = _totals(truths)
    inter = {"q": 0.0, "w": 0.0}
    length = {"q": 0.0, "w": 0.0}
    curve = []
    ranked = sorted(predictions, key=lambda p: -p.score)
    for score, group in itertools.groupby(ranked, key=lambda p: p.score):
        for pred in group:
            pair = pairs[(pred.query, pred.work)]
            before = pair.lengths()
            pair.preds.append(pred)
            after = pair.lengths()
            for axis in ("q", "w"):
                inter[axis] += after[axis][0] - before[axis][0]
                length[axis] += after[axis][1] - before[axis][1]
        precision = math.sqrt(
            (inter["q"] / length["q"] if length["q"] else 0.0) * (inter["w"] / length["w"] if length["w"] else 0.0)
        )
        recall = math.sqrt(
            (inter["q"] / total["q"] if total["q"] else 0.0) * (inter["w"] / total["w"] if total["w"] else 0.0)
        )
        curve.append(PRPoint(float(score), precision, recall))
    return curve


def segment_uap(truths: Sequence[Box], predictions: Sequence[Box]) -> float:
    """Micro average precision over segments (VSC22 matching track)."""
    ap, recall = 0.0, 0.0
    for point in segment_pr_curve(truths, predictions):
        ap += point.precision * (point.recall - recall)
        recall = point.recall
    return ap


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        s = self.precision + self.recall
        return 2 * self.precision * self.recall / s if s else 0.0


def segment_prf(truths: Sequence[Box], predictions: Sequence[Box], threshold: float) -> PRF:
    """Segment precision and recall of the predictions scoring at least ``threshold``."""
    kept = [p for p in predictions if p.score >= threshold]
    if not kept:
        return PRF(1.0 if not truths else 0.0, 0.0 if truths else 1.0)
    last = segment_pr_curve(truths, kept)[-1]
    return PRF(last.precision, last.recall)


def average_precision(scored: Sequence[tuple[float, bool]], positives: int) -> float:
    """AP of items ``(score, is_true)`` ranked by score, against ``positives`` true items
    in all (missed ones count as recall never reached)."""
    if positives == 0:
        return 1.0
    ap, hits = 0.0, 0
    for rank, (_, ok) in enumerate(sorted(scored, key=lambda x: -x[0]), start=1):
        if ok:
            hits += 1
            ap += hits / rank
    return ap / positives


def video_ap(truths: Sequence[Box], predictions: Sequence[Box]) -> float:
    """AP of (query, work) pairs, each scored by its best predicted segment."""
    true_pairs = {(t.query, t.work) for t in truths}
    best: dict[tuple[str, str], float] = {}
    for p in predictions:
        key = (p.query, p.work)
        best[key] = max(best.get(key, -math.inf), p.score)
    return average_precision([(s, k in true_pairs) for k, s in best.items()], len(true_pairs))


def localisation_errors(truths: Sequence[Box], predictions: Sequence[Box]) -> list[float]:
    """For each truth found by an overlapping prediction of its pair, the larger of the
    work-start and work-end errors of the best-overlapping prediction (seconds)."""
    errors = []
    for t in truths:
        cands = [p for p in predictions if p.query == t.query and p.work == t.work and p.overlaps(t)]
        if not cands:
            continue
        best = max(cands, key=lambda p: min(p.q1, t.q1) - max(p.q0, t.q0))
        errors.append(max(abs(best.w0 - t.w0), abs(best.w1 - t.w1)))
    return errors
