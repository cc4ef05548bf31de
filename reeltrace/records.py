"""Plain records passed between the pipeline stages.

media -> ``SampledFrame`` -> visual -> ``VideoFeatures`` -> index/candidates -> ``PairMatches``
-> align -> ``Segment`` -> decide -> ``WorkMatch`` -> ``ScanResult`` -> report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
class MediaInfo:
    """What a container holds, read from its header before decoding."""

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0


@dataclass
class VideoFeatures:
    """Frame descriptors of one video, in time order.

    ``embeddings[i]`` (L2-normalised) describes the frame shown at ``timestamps[i]`` seconds.
    Query features carry several descriptors per instant (one per ``views[i]``: full frame,
    content region, and their mirror images), so ``timestamps`` may repeat.
    """

    timestamps: np.ndarray  # (n,) float64 seconds
    embeddings: np.ndarray  # (n, d) float32
    views: np.ndarray  # (n,) int8, see visual.View
    duration: float
    sample_fps: float

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass
class PairMatches:
    """Frame-level candidate matches between one query and one work (one row per pair)."""

    work_key: int
    query_times: np.ndarray  # (m,) seconds
    work_times: np.ndarray  # (m,) seconds
    scores: np.ndarray  # (m,) cosine similarity


@dataclass(frozen=True)
class Segment:
    """A reused stretch: query [query_start, query_end] shows work [work_start, work_end]."""

    query_start: float
    query_end: float
    work_start: float
    work_end: float
    score: float
    frames: int = 0  # matched samples supporting it
    similarity: float = 0.0  # their mean descriptor similarity
    speed: float = 1.0  # work seconds per query second
    modality: str = "video"  # "video" | "audio" | "audio+video": what shows the reuse

    def to_dict(self) -> dict:
        return {
            "query_start": round(self.query_start, 3),
            "query_end": round(self.query_end, 3),
            "work_start": round(self.work_start, 3),
            "work_end": round(self.work_end, 3),
            "score": round(self.score, 4),
            "modality": self.modality,
        }


@dataclass(frozen=True)
class Work:
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

    def to_dict(self) -> dict:
        return {
            "work_id": self.work_id,
            "title": self.title,
            "owner": self.owner,
            "category": self.category,
            "duration": round(self.duration, 3),
            "content_hash": self.content_hash,
            "source_path": self.source_path,
            "registered_at": self.registered_at,
            "has_video": self.has_video,
            "has_audio": self.has_audio,
            "frames": self.frames,
        }


@dataclass
class WorkMatch:
    """Everything one query reuses from one work."""

    work: Work
    modality: str  # "video" | "audio" | "audio+video"
    score: float
    segments: list[Segment] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "work_id": self.work.work_id,
            "title": self.work.title,
            "owner": self.work.owner,
            "category": self.work.category,
            "modality": self.modality,
            "score": round(self.score, 4),
            "segments": [s.to_dict() for s in self.segments],
        }


@dataclass
class ScanResult:
    """The answer for one query input: its matches, or the one-line reason it failed."""

    query: str
    duration: float = 0.0
    error: str | None = None
    matches: list[WorkMatch] = field(default_factory=list)
    elapsed: float = 0.0

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "duration": round(self.duration, 3),
            "error": self.error,
            "matches": [m.to_dict() for m in self.matches],
        }


@dataclass(frozen=True)
class RegisterResult:
    """Outcome of registering one input file."""

    path: str
    work: Work | None = None
    created: bool = False  # False: the same content was already registered
    error: str | None = None
