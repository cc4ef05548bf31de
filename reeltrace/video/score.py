"""Decision: aligned chains -> scored segments -> per-work matches.

A segment's score is a calibrated probability that it is a real copy, from a logistic
model over three measurements of its chain:

    logit = b0 + b_sim * mean_similarity + b_len * log(frames) + b_cov * coverage
    score = 1 / (1 + exp(-logit))

``frames`` counts distinct query samples in the chain, ``coverage`` is frames over the
samples its query interval holds (1.0: every sample matched). The coefficients were fitted
by logistic regression on labelled segments (228 true copies under 14 edits and their
combinations, 6 chains found between unrelated videos, from 110 real clips);
``docs/calibration.md`` gives the data and the command. The bias puts 0.5 one logit unit
above the highest false chain (0.27); with so few false chains, the length term carries most
of the weight: long chains at low similarity are an extrapolation (see the doc's limits).
Segments scoring below ``threshold`` are not reported. A work's score is its best
segment's.

A floor guards the extrapolation: a chain whose mean similarity is below
``min_similarity`` (0.45) scores 0 whatever its length. In the calibration data the true
chains' 1st percentile is 0.445 and 5th 0.536; every false chain is below 0.38, chains
between different takes on one set have median 0.42, and an unrelated lyrics video against
the full 596 s film gave 6-8-frame chains at 0.38-0.43, which the length term alone passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..records import Segment, VideoEvidence
from .records import Chain


@dataclass(frozen=True)
class ScoreModel:
    # Fitted by scripts/calibrate.py (seed 7, docs/calibration.md): 228 true chains, 6 false.
    # The bias is shifted by -2.58 from the fit so that 0.5 sits one logit unit above the
    # highest-scoring false chain (which now scores 0.27); scores are therefore not plain
    # probabilities but "probability at the operating point".
    bias: float = -5.50
    similarity: float = 1.75
    length: float = 2.34
    coverage: float = 0.64
    threshold: float = 0.5
    min_similarity: float = 0.45

    def score(self, chain: Chain, sample_step: float) -> float:
        return self.score_evidence(chain_evidence(chain, sample_step))

    def score_evidence(self, e: VideoEvidence) -> float:
        if e.similarity < self.min_similarity:
            return 0.0
        logit = self.bias + self.similarity * e.similarity + self.length * math.log(e.frames) + self.coverage * e.coverage
        return 1.0 / (1.0 + math.exp(-logit))


def chain_evidence(chain: Chain, sample_step: float) -> VideoEvidence:
    """The measurements the score reads: distinct query samples, their mean similarity,
    and the share of the samples in the chain's query interval that matched."""
    frames = len(np.unique(chain.query_times))
    expected = chain.query_span / sample_step + 1.0
    return VideoEvidence(frames=frames, similarity=float(chain.scores.mean()), coverage=min(1.0, frames / expected))


DEFAULT_SCORE_MODEL = ScoreModel()


def to_segment(chain: Chain, score: float, sample_step: float, query_duration: float, work_duration: float) -> Segment:
    """Segment bounds: each matched sample stands for the half step on either side of it."""
    half = sample_step / 2
    q0 = max(0.0, float(chain.query_times[0]) - half)
    q1 = float(chain.query_times[-1]) + half
    if query_duration > 0:
        q1 = min(q1, query_duration)
    w0 = chain.speed * q0 + chain.offset
    w1 = chain.speed * q1 + chain.offset
    w0 = max(0.0, w0)
    w1 = max(w0, min(w1, work_duration) if work_duration > 0 else w1)
    return Segment(
        query_start=q0,
        query_end=q1,
        work_start=w0,
        work_end=w1,
        score=score,
        speed=chain.speed,
        video=chain_evidence(chain, sample_step),
    )


def score_chains(
    chains: list[Chain],
    sample_step: float,
    query_duration: float,
    work_duration: float,
    model: ScoreModel = DEFAULT_SCORE_MODEL,
) -> list[Segment]:
    """Every chain as a scored segment, above the threshold or not, in query order."""
    segments = [to_segment(c, model.score(c, sample_step), sample_step, query_duration, work_duration) for c in chains]
    segments.sort(key=lambda s: (s.query_start, s.work_start))
    return segments


def decide(scored: list[Segment], model: ScoreModel = DEFAULT_SCORE_MODEL) -> list[Segment]:
    """The segments scoring at least the model's threshold."""
    return [s for s in scored if s.score >= model.threshold]
