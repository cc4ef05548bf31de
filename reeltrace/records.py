"""Records shared by both chains and the layers above them.

video chain -> ``Segment`` (modality "video", ``VideoEvidence``); audio chain -> ``Segment``
(modality "audio", ``AudioEvidence``); fuse -> ``WorkMatch`` -> ``ScanResult`` -> report,
CLI, service. The records inside each chain live in ``video.records`` and
``audio.records``.

Every record is a plain dataclass with a lossless round trip through JSON types
(``roundtrip.Record``). What users see (rounded, public fields only) is made by ``report.formats``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .roundtrip import Record
from .video.records import PairMatches

WORK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What a work id may be: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."""


def valid_work_id(work_id: str | None) -> bool:
    return bool(work_id) and WORK_ID.match(work_id) is not None


CATEGORIES: dict[str, str] = {
    "drama": "online drama",
    "film": "online film",
    "animation": "online animation",
    "variety": "variety show",
    "documentary": "documentary",
    "short": "short video",
    "audio": "online audio programme",
}
"""Work categories: CLI name -> what users call it."""


@dataclass(frozen=True)
class MediaInfo(Record):
    """What a container holds, read from its header before decoding."""

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0


@dataclass(frozen=True)
class VideoEvidence(Record):
    """What the picture shows of a segment: the measurements its score is computed from
    (``video.score.ScoreModel``)."""

    frames: int  # distinct query samples on the aligned chain
    similarity: float  # their mean descriptor similarity, after the background penalty
    coverage: float = 1.0  # frames over the samples the query interval holds


@dataclass(frozen=True)
class AudioEvidence(Record):
    """What the sound shows of a segment (``audio.score.calibrated_score`` reads these)."""

    hits: int  # aligned landmarks (distinct query anchor times)
    distinct: int = 0  # distinct hash values among the hits
    density: float = 0.0  # aligned landmarks per query landmark in the span
    verified: float = 0.0  # evidence of the work's peaks in the query (audio.verify)
    pitch: float = 1.0  # work frequency per query frequency
    explained_by: int = -1  # work key of a stronger work whose peaks were set aside (audio.match._explain_away)
    shared_with: int = -1  # work key of a stronger work holding the same recording on this stretch
    spectral: float = 0.0  # agreement of the work's spectral-shape codes with the query (audio.codes)


@dataclass(frozen=True)
class Segment(Record):
    """A reused stretch: query [query_start, query_end] shows work [work_start, work_end],
    at ``speed`` work seconds per query second. ``video`` and ``audio`` hold the evidence
    of the chain(s) that found it: one of them, or both for an ``audio+video`` segment."""

    query_start: float
    query_end: float
    work_start: float
    work_end: float
    score: float
    speed: float = 1.0
    modality: str = "video"  # "video" | "audio" | "audio+video": what shows the reuse
    video: VideoEvidence | None = None
    audio: AudioEvidence | None = None
    shares_audio_with: str = ""  # work id of another matched work that holds the same recording here


@dataclass(frozen=True)
class Work(Record):
    """A registered work as stored in the library."""

    work_id: str
    title: str
    owner: str
    category: str
    duration: float
    content_hash: str
    source_path: str
    registered_at: str
    has_video: bool
    has_audio: bool
    frames: int = 0
    key: int = 0  # internal integer key, used in vector ids


@dataclass
class WorkMatch(Record):
    """Everything one query reuses from one work."""

    work: Work
    modality: str  # "video" | "audio" | "audio+video"
    score: float
    segments: list[Segment] = field(default_factory=list)


@dataclass
class ScanResult(Record):
    """The answer for one query input: its matches, or the one-line reason it failed."""

    query: str
    duration: float = 0.0
    error: str | None = None
    matches: list[WorkMatch] = field(default_factory=list)
    elapsed: float = 0.0
    trace: ScanTrace | None = None  # what each stage found, when asked for (``Library.scan(trace=True)``)


@dataclass(frozen=True)
class RegisterResult(Record):
    """Outcome of registering one input file."""

    path: str
    work: Work | None = None
    created: bool = False  # False: the same content was already registered
    error: str | None = None


@dataclass
class ScanTrace(Record):
    """Every stage's output for one scan, unfiltered: what the bench, calibration and
    variant scripts measure, so that they can only ever measure the production path.

    ``candidates``: per work key, the frame matches retrieved for alignment (after the
    background penalty); ``video`` and ``audio``: per work key, every segment each chain
    found with its evidence and score, above the threshold or not (``Segment.video``
    holds what the video score reads, ``Segment.audio`` what the audio score reads).
    """

    candidates: dict[int, PairMatches] = field(default_factory=dict)
    video: dict[int, list[Segment]] = field(default_factory=dict)
    audio: dict[int, list[Segment]] = field(default_factory=dict)
