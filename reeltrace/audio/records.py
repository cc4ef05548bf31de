"""Records of the audio chain: fingerprints, peaks, the query, index hits, verification,
matched segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..records import AudioEvidence, Segment
from ..roundtrip import Record
from .evidence import QueryEvidence


@dataclass
class AudioFingerprint(Record):
    """Landmark hashes of one recording (or of one query pass).

    ``hashes[i]`` is the pair hash whose anchor peak sits at ``times[i]`` seconds of the
    recording. A query pass also says which hypothesis mapped it: work time =
    ``time_scale * times``, work frequency = ``freq_scale * query frequency``. A work's
    fingerprint also holds its spectral-shape ``codes`` (``codes.work_codes``; empty for a
    query pass, and for works registered before the codes existed).
    """

    hashes: np.ndarray  # (n,) uint32
    times: np.ndarray  # (n,) float32 seconds, anchor peak
    duration: float
    time_scale: float = 1.0
    freq_scale: float = 1.0
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))  # (m,) uint32, one per 64 ms

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
    identity first) and its evidence map for verifying alignments.

    ``evidence`` is a lazy cache over the query's samples, not data: ``to_dict`` leaves it
    out, so a query rebuilt by ``from_dict`` has none and cannot be verified (``match``
    refuses it). Everything else round-trips."""

    passes: list[AudioFingerprint]
    duration: float  # seconds of the query
    evidence: QueryEvidence | None = field(default=None, compare=False, repr=False)
    peaks: Peaks | None = None  # dense single peaks for peak votes (short queries only)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        del data["evidence"]
        return data


@dataclass(frozen=True)
class Hits(Record):
    """Every hit of a query's passes in the index (``AudioIndex.lookup``), one per (pass,
    query anchor time, index row); arrays of one length, in pass order."""

    pass_index: np.ndarray  # (n,) int32: which pass of the query found the hit
    work_key: np.ndarray  # (n,) int64
    query_time: np.ndarray  # (n,) float64 seconds, the query's anchor peak
    work_time: np.ndarray  # (n,) float64 seconds, the work's anchor peak
    row: np.ndarray  # (n,) int64: the index row (one work hash) hit
    half_frame: np.ndarray  # (n,) int64: the query time in half frames (two frame grids)

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True)
class Verification(Record):
    """What ``verify_alignment`` found along a line: the largest evidence sum over a
    stretch, and the query stretch (seconds) it spans; all 0 when nothing was found."""

    verified: float = 0.0
    query_start: float = 0.0
    query_end: float = 0.0


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
    spectral: float = 0.0  # agreement of the work's spectral-shape codes with the query (codes.read_along)
    # Work keys (-1: none) of a stronger work on the same query stretch (match._explain_away):
    # whose peaks were set aside before ``verified`` was read, or that holds the same recording.
    explained_by: int = -1
    shared_with: int = -1

    def to_segment(self) -> Segment:
        """The segment as the layers above the audio chain see it."""
        return Segment(self.query_start, self.query_end, self.work_start, self.work_end, self.score, speed=self.speed,
                       modality="audio", audio=AudioEvidence(self.hits, self.distinct, self.density, self.verified,
                                                             self.pitch, self.explained_by, self.shared_with,
                                                             self.spectral))  # fmt: skip
