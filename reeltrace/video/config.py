"""Video chain parameters, one frozen record passed in (``Library(video=...)``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .align import AlignParams
from .candidates import RetrievalParams
from .score import DEFAULT_SCORE_MODEL, ScoreModel


@dataclass(frozen=True)
class VideoConfig:
    sample_fps: float = 2.0
    """Frames sampled per second, for works and queries alike, chosen on the trailer
    (docs/design.md): at 1/s shots of one film merged across cuts and three of its six
    pieces were missed; at 2/s all six are found, work times within 0.60 s; at 4/s within
    0.42 s, for four times the descriptors of 1/s and twice those of 2/s (register speed
    falls with them)."""
    retrieval: RetrievalParams = field(default_factory=RetrievalParams)
    alignment: AlignParams = field(default_factory=AlignParams)
    scoring: ScoreModel = DEFAULT_SCORE_MODEL

    @property
    def sample_step(self) -> float:
        return 1.0 / self.sample_fps
