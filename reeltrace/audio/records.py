"""Records of the audio chain: fingerprints, peaks, the query, matched segments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..records import AudioEvidence, Segment
from ..roundtrip import Record

if TYPE_CHECKING:
    from .evidence import QueryEvidence


@dataclass
class AudioFingerprint(Record):
    """Landmark hashes of one recording (or of one query pass).

    ``hashes[i]`` is the pair hash whose anchor peak sits at ``times[i]`` seconds of the
    recording. A query pass also says which hypothesis mapped it: work time =
    ``time_scale * times``, work frequency = ``freq_scale * query frequency``.
    """

    hashes: np.ndarray  # (n,) uint32
    times: np.ndarray  # (n,) float32 seconds, anchor peak
    duration: float
    time_scale: float = 1.0
    freq_scale: float = 1.0

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def speed(self) -> float:
        """Work seconds per query second that this pass assumed."""
        return self.time_scale


@dataclass
class Peaks(Record):
    """Spectral peaks in frame and bin units, sorted by time then frequency."""

    t: np.ndarray  # (n,) float64 frames
    f: np.ndarray  # (n,) float64 bins
    duration: float


@dataclass
class AudioQuery(Record):
    """What a scan matches: the query's landmark passes (one per speed hypothesis,
    identity first) and its evidence map for verifying alignments."""

    passes: list[AudioFingerprint]
    evidence: QueryEvidence

    @property
    def duration(self) -> float:
        return self.evidence.duration


@dataclass(frozen=True)
class AudioSegment(Record):
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

    def to_segment(self) -> Segment:
        """The segment as the layers above the audio chain see it."""
        return Segment(self.query_start, self.query_end, self.work_start, self.work_end, self.score, speed=self.speed,
                       modality="audio", audio=AudioEvidence(self.hits, self.distinct, self.density, self.verified,
                                                             self.pitch))  # fmt: skip
