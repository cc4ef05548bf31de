"""Fusion: one work's picture segments and sound segments -> what the query reuses of it.

A picture segment ``v`` and a sound segment ``a`` *agree* when they overlap on the query
axis by at least half of the shorter one, and map the middle of that overlap to work
times no more than ``AGREE_SECONDS`` apart. Agreeing pairs become one ``audio+video``
segment spanning both, scored

    score = 1 - (1 - score_v) (1 - score_a)

(two independent pieces of evidence; each score is already a calibrated probability).
Segments without a partner keep their own modality, except sound segments that repeat
what the query already shows of the work at another place: at any query instant the
sound comes from one place of the work, so a sound segment whose query stretch is at
least half covered by a picture segment (which places it), or by a stronger sound segment,
is a repeat in the soundtrack (a loop, a chorus) and is dropped. A loop-based music video
gave seventeen sound segments over one 35 s query before this rule, one after. The cost:
an edit that lays one scene's sound under another scene's picture reports the picture
only. The match's modality is
``audio+video`` when picture and sound agree anywhere; otherwise that of its best segment
(every segment also says its own).
"""

from __future__ import annotations

from dataclasses import replace

from .intervals import union_length
from .records import Segment

AGREE_SECONDS = 1.5


def _work_time(seg: Segment, t: float) -> float:
    return seg.work_start + (t - seg.query_start) * seg.speed


def agree(v: Segment, a: Segment) -> bool:
    lo, hi = max(v.query_start, a.query_start), min(v.query_end, a.query_end)
    shorter = min(v.query_end - v.query_start, a.query_end - a.query_start)
    if hi - lo < 0.5 * shorter or shorter <= 0:
        return False
    mid = (lo + hi) / 2
    return abs(_work_time(v, mid) - _work_time(a, mid)) <= AGREE_SECONDS


def _covered(seg: Segment, others: list[Segment]) -> float:
    """Fraction of ``seg``'s query stretch that ``others`` cover."""
    spans = [(max(o.query_start, seg.query_start), min(o.query_end, seg.query_end)) for o in others]
    length = seg.query_end - seg.query_start
    return union_length(spans) / length if length > 0 else 1.0


def _one_place_per_instant(audio: list[Segment], video: list[Segment]) -> list[Segment]:
    """The sound segments left once repeats are dropped (see the module docstring)."""
    kept: list[Segment] = []
    for a in sorted(audio, key=lambda s: (-s.score, -(s.audio.hits if s.audio else 0))):
        if _covered(a, video + kept) < 0.5:
            kept.append(a)
    return kept


def fuse(video: list[Segment], audio: list[Segment]) -> tuple[str, list[Segment]]:
    """(modality, segments in query order) for one work."""
    out: list[Segment] = []
    used: set[int] = set()
    fused_any = False
    for v in video:
        partner = next((i for i, a in enumerate(audio) if i not in used and agree(v, a)), None)
        if partner is None:
            out.append(v)
            continue
        a = audio[partner]
        used.add(partner)
        fused_any = True
        out.append(
            replace(
                v,
                query_start=min(v.query_start, a.query_start),
                query_end=max(v.query_end, a.query_end),
                work_start=min(v.work_start, a.work_start),
                work_end=max(v.work_end, a.work_end),
                score=1.0 - (1.0 - v.score) * (1.0 - a.score),
                modality="audio+video",
                audio=a.audio,
            )
        )
    out += _one_place_per_instant([a for i, a in enumerate(audio) if i not in used], video)
    out.sort(key=lambda s: (s.query_start, s.work_start))
    if fused_any:
        modality = "audio+video"
    else:
        modality = max(out, key=lambda s: s.score).modality if out else "video"
    return modality, out
